"""The scoring URI: ``<workspace>/endpoints/{endpoint}/{path}``.

A pure ASGI app mounted in the workspace app. It checks the endpoint's key (not the
workspace token; read with ``kiln.authorization``, as REST reads tokens), picks a deployment (the ``azureml-model-deployment`` header, else the
weighted traffic split over ready deployments), forwards the request with the path below
the endpoint unchanged to one of its ready replicas over a pooled keep-alive HTTP/1.1 hop
(``replica_client``), and relays the replica's whole answer back. Mirrored copies go out fire-and-forget; their answers are dropped.
A replica that refuses the connection or dies before its answer is complete (stopped by a
rolling update, or killed) is skipped and the request goes to another, so such changes drop
no requests. Each request to a replica carries that replica's secret (``kiln.internal_secret``):
replicas answer nobody else. The gateway's own answers (a missing or wrong key, which is also what
a name that is no endpoint gets, no such deployment, nothing ready, no answer in time) are errors
of ``kiln.errors``, in the workspace's error body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.types import Receive, Scope, Send

from kiln.authorization import bearer_credential
from kiln.errors import BadGateway, GatewayTimeout, KilnError, NotFound, Unauthorized, Unavailable
from kiln.internal_secret import HEADER as INTERNAL_SECRET
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.serving.control.replica_client import Answer, ReplicaClient, ReplicaUnreachable
from kiln.serving.control.routing import DeploymentRoute, EndpointRoute, ReplicaTarget, RoutingTable

log = logging.getLogger(__name__)

DEPLOYMENT_HEADER = "azureml-model-deployment"
AML_TOKEN = "aml_token"
PREFIX = "/endpoints/"
ATTEMPTS = 4
# the body goes whole with its own Content-Length; hop-by-hop headers and credentials stay here
_DROPPED_REQUEST_HEADERS = {
    b"host", b"authorization", b"connection", b"content-length", b"transfer-encoding", b"expect", b"keep-alive",
    b"te", b"upgrade", b"cookie", INTERNAL_SECRET,
}  # fmt: skip
_PATH_SAFE = "/:@!$&'()*+,;=~"  # RFC 3986 pchar, with '/', left as they are
_DROPPED_RESPONSE_HEADERS = {b"connection", b"keep-alive", b"transfer-encoding", b"server", b"date"}

TokenCheck = Callable[[str], Awaitable[KilnError | None]]  # a user's API token: None if it may score, else why not


async def _no_user_tokens(_token: str) -> KilnError | None:
    return Unauthorized("this workspace checks no user tokens at its scoring URIs")


class EndpointGateway:
    def __init__(
        self,
        routes: Callable[[], RoutingTable],
        metrics: Callable[[], GatewayMetrics],
        user_token: TokenCheck = _no_user_tokens,
    ) -> None:
        self._routes = routes
        self._metrics = metrics
        self._user_token = user_token  # auth_mode aml_token: the workspace server checks the user and role
        self._client = ReplicaClient()  # keep-alive connections to every replica; bodies relayed as they are
        self._mirrors: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        for task in list(self._mirrors):
            task.cancel()
        self._client.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        endpoint_name, _, rest = _below_prefix(scope).partition("/")
        route = self._routes().get(endpoint_name)
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        key = bearer_credential(_header(headers, b"authorization"))  # REST reads its tokens the same way
        # an endpoint that does not exist answers as one whose key was not given: the same status and
        # body, so that without a key nobody learns which endpoint names exist
        refused: KilnError | None = None
        if route is None or key is None:
            refused = _needs_credentials(endpoint_name)
        elif route.auth_mode == AML_TOKEN:
            refused = await self._user_token(key)
            if refused is not None and refused.http_status == 401:  # told apart from an unknown endpoint only
                refused = _needs_credentials(endpoint_name)  # by a workspace user (403: not a contributor)
        elif not route.accepts(key):
            refused = _needs_credentials(endpoint_name)
        if refused is not None or route is None:
            refused = refused or _needs_credentials(endpoint_name)
            await _error(send, refused, [(b"www-authenticate", b"Bearer")] if refused.http_status == 401 else [])
            return
        body = await _read_body(receive)
        # the path as the caller sent it, re-quoted (ASGI gives it decoded: a space, CR or LF must not reach the
        # request line); the query string is still as it came off the wire
        target = "/" + quote(rest, safe=_PATH_SAFE)
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        await self._dispatch(route, scope["method"], target, headers, body, send)

    async def _dispatch(
        self, route: EndpointRoute, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes,
        send: Any,
    ) -> None:  # fmt: skip
        """A request whose credential was accepted: to the pinned deployment or the split, mirrors aside."""
        pinned = _header(headers, DEPLOYMENT_HEADER.encode())
        if pinned is not None and pinned not in route.deployments:
            await _error(send, NotFound(f"endpoint '{route.name}' has no deployment '{pinned}'"))
            return
        forwarded = [(k, v) for k, v in headers if k not in _DROPPED_REQUEST_HEADERS]
        request_id = _header(headers, b"x-request-id") or _request_id()
        if pinned is None:
            for mirror in route.mirror_targets():
                self._start_mirror(route.name, mirror, method, target, forwarded, body)
        await self._forward(route, pinned, method, target, forwarded, body, request_id, send)

    async def score_on_server(
        self, endpoint_name: str, body: bytes, deployment: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """POST ``body`` to the endpoint's ``/score`` as a caller with its key would, for a REST caller whose
        role the server has checked already (kiln studio's test form): the same split, mirrors and metrics.
        Returns the status, the answer's headers (lower-case names) and its body; NotFound for no endpoint."""
        route = self._routes().get(endpoint_name)
        if route is None:
            raise NotFound(f"online endpoint '{endpoint_name}' not found (kiln online-endpoint list shows them)")
        headers = [(b"content-type", b"application/json")]
        if deployment:
            headers.append((DEPLOYMENT_HEADER.encode(), deployment.encode("latin-1")))
        answer: dict[str, Any] = {"status": 500, "headers": {}, "body": b""}

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]}
            else:
                answer["body"] += message.get("body", b"")

        await self._dispatch(route, "POST", "/score", headers, body, keep)
        return answer["status"], answer["headers"], answer["body"]

    async def _forward(
        self,
        route: EndpointRoute,
        pinned: str | None,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        request_id: str,
        send: Any,
    ) -> None:
        started = time.perf_counter()
        tried: set[str] = set()  # deployments whose every replica failed to answer
        failed_replicas: set[ReplicaTarget] = set()
        deployment: DeploymentRoute | None = None
        problem = "no deployment of this endpoint is ready to take traffic"
        for _attempt in range(ATTEMPTS):
            deployment = self._pick(route, pinned, frozenset(tried))
            if deployment is None:
                break
            replica = deployment.next_replica(failed_replicas)
            if replica is None:
                tried.add(deployment.name)
                continue
            try:
                answer = await self._exchange(method, replica, target, headers, body, deployment.timeout_s)
            except ReplicaUnreachable as exc:  # not answered whole: try another replica
                problem = f"deployment '{deployment.name}' could not be reached: {exc}"
                failed_replicas.add(replica)
                continue
            except TimeoutError:
                late = GatewayTimeout(f"deployment '{deployment.name}' did not answer in time")
                self._metrics().record(route.name, deployment.name, late.http_status, time.perf_counter() - started)
                await _error(send, late)
                return
            await self._relay(route.name, deployment.name, answer, request_id, send, started)
            return
        if deployment is None:
            await _error(
                send, Unavailable(problem if pinned is None else f"deployment '{pinned}' has no ready replica")
            )
            return
        error = Unavailable(problem) if pinned is None else BadGateway(problem)
        self._metrics().record(route.name, deployment.name, error.http_status, time.perf_counter() - started)
        await _error(send, error)

    async def _exchange(
        self,
        method: str,
        replica: ReplicaTarget,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout_s: float,
    ) -> Answer:
        """The replica's whole answer, read before anything goes to the caller: a replica that dies
        mid-answer is then retried on another one instead of leaving the caller a truncated body.
        Scoring answers are small and bounded by the deployment's timeout. The replica's secret goes
        with the request: a replica answers nobody but the gateway (and the controller's probes)."""
        host, port = _address(replica.url)
        sent = [*headers, (INTERNAL_SECRET, replica.secret.encode("latin-1"))]
        async with asyncio.timeout(timeout_s):
            return await self._client.exchange(host, port, method, target, sent, body)

    def _pick(self, route: EndpointRoute, pinned: str | None, tried: frozenset[str]) -> DeploymentRoute | None:
        if pinned is not None:
            found = route.deployments.get(pinned)
            return found if found and found.replicas and pinned not in tried else None
        name = route.splitter.choose(tried)
        return route.deployments[name] if name else None

    async def _relay(
        self, endpoint: str, deployment: str, answer: Answer, request_id: str, send: Any, started: float
    ) -> None:
        headers = [(k, v) for k, v in answer.headers if k.lower() not in _DROPPED_RESPONSE_HEADERS]
        headers += [(DEPLOYMENT_HEADER.encode(), deployment.encode()), (b"x-request-id", request_id.encode())]
        try:
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})
        finally:
            self._metrics().record(endpoint, deployment, answer.status, time.perf_counter() - started)

    def _start_mirror(
        self,
        endpoint: str,
        deployment: DeploymentRoute,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._mirror(endpoint, deployment, method, target, headers, body))
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _mirror(
        self,
        endpoint: str,
        deployment: DeploymentRoute,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        ok = False
        replica = deployment.next_replica()
        if replica is None:
            return
        try:
            answer = await self._exchange(method, replica, target, headers, body, deployment.timeout_s)
            ok = answer.status < 500
        except (ReplicaUnreachable, TimeoutError) as exc:
            log.debug("mirrored request to %s failed: %s", deployment.name, exc)
        self._metrics().record_mirror(endpoint, deployment.name, ok)


def _needs_credentials(endpoint_name: str) -> Unauthorized:
    """The one answer to a missing or wrong credential, and to an endpoint that does not exist."""
    return Unauthorized(
        f"endpoint '{endpoint_name}' needs one of its keys as 'Authorization: Bearer <key>' "
        f"(kiln online-endpoint get-credentials -n {endpoint_name}), or, if its auth_mode is aml_token, "
        "a workspace user's API token (contributor or owner)"
    )


class ScoringFastPath:
    """Outermost middleware of the workspace app: scoring requests go straight to the gateway,
    past the workspace token check and FastAPI's routing. They carry endpoint keys, which the
    gateway checks, and they are the hot path."""

    def __init__(self, app: Any, gateway: EndpointGateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.gateway(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _request_id() -> str:
    """A random 128-bit id in uuid4's hex form, without uuid4's system call per request (it only
    correlates logs; nothing secret rides on it)."""
    return f"{random.getrandbits(128):032x}"


@lru_cache(maxsize=1024)
def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _below_prefix(scope: Scope) -> str:
    """The path below /endpoints/, whether or not the mount already stripped the prefix."""
    path: str = scope["path"]
    if path.startswith(PREFIX):
        return path[len(PREFIX) :]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.lstrip("/")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _error(send: Any, error: KilnError, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """The workspace's error body (``{"error": {"type", "message"}}``) with the class's status, so
    the SDK rebuilds the same class. Only failed requests come here; the relay path does not."""
    body = json.dumps(error.to_json()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
