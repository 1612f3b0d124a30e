"""``/mlflow`` waits for MLflow, on the event loop, while MLflow's child starts beside the server.

The workspace server answers as soon as its own parts are up; MLflow's child starts in the background
(``kiln.server.stores.launch_mlflow``). A request to ``/mlflow`` that comes before MLflow answers waits
for it here, with no thread held, for at most ``wait`` seconds; then it is answered 503 ``Unavailable``
("still starting", or why MLflow failed to start), never a refused connection or a traceback. Once
MLflow has answered, a request costs one attribute check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from kiln.errors import Unavailable
from kiln.server.health import answer
from kiln.tracking.mlflow_server import MLFLOW_PREFIX, STILL_STARTING, WAIT_SECONDS

POLL_SECONDS = 0.05


class Starting(Protocol):
    """What the gate needs of ``MlflowSupervisor``."""

    @property
    def state(self) -> str: ...

    def wait_ready(self, timeout: float) -> None: ...


class WaitForMlflow:
    """ASGI: requests under ``/mlflow`` go on once ``mlflow()`` (None while the workspace opens) is ready."""

    def __init__(self, app: Any, mlflow: Callable[[], Starting | None], wait: float = WAIT_SECONDS) -> None:
        self.app = app
        self._mlflow = mlflow
        self._wait = wait
        self._ready = False  # once ready, ready for good (a restart of MLflow's child is the proxy's 503)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._ready or scope["type"] != "http" or not _under_mlflow(scope["path"]):
            await self.app(scope, receive, send)
            return
        problem = await self._until_ready()
        if problem is not None:
            await answer(send, problem.http_status, problem.to_json(), headers={"retry-after": "5"})
            return
        await self.app(scope, receive, send)

    async def _until_ready(self) -> Unavailable | None:
        deadline = time.monotonic() + self._wait
        while True:
            mlflow = self._mlflow()
            state = mlflow.state if mlflow is not None else "starting"
            if state == "ready":
                self._ready = True
                return None
            if state == "failed" and mlflow is not None:
                try:
                    mlflow.wait_ready(0)
                except Unavailable as exc:
                    return exc
            if time.monotonic() >= deadline:
                return Unavailable(STILL_STARTING)
            await asyncio.sleep(POLL_SECONDS)


def _under_mlflow(path: str) -> bool:
    return path == MLFLOW_PREFIX or path.startswith(MLFLOW_PREFIX + "/")
