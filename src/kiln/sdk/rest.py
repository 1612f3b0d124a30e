"""HTTP to the workspace, one declared operation at a time (``kiln.api``): auth header, the error
tree rebuilt on this side, clear connection errors.

::

    rest.call(api.jobs.SHOW, name="train-1", params={"run_data": True})   # -> JobView
    with rest.stream(api.jobs.LOGS, name="train-1", params={"follow": True}) as response: ...

Each call fills the operation's path (every path parameter one escaped segment), refuses what the
operation does not take (a programming error: ``TypeError``), and parses a JSON answer into the
operation's response type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from kiln.api.operation import Operation
from kiln.errors import Unavailable, error_from_json

R = TypeVar("R")
Params = Mapping[str, str | int | float | bool]


class RestClient:
    def __init__(self, url: str, token: str | None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token  # also what scores an endpoint whose auth_mode is aml_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0))

    def call(
        self, operation: Operation[R], /, *, params: Params | None = None, json: Any = None, content: Any = None,
        **path: str | int,
    ) -> R:  # fmt: skip
        """Send ``operation`` and return its JSON answer as the operation's response type."""
        if not operation.is_json:
            raise TypeError(f"{operation.name} answers {operation.media_type}: use RestClient.stream")
        request = _request(operation, params, json, content, path)
        try:
            response = self._http.request(operation.method, request.pop("url"), **request)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach the kiln workspace at {self.url}: {exc}") from exc
        self._raise_for_error(response)
        return _parsed(operation.response, response.json() if response.content else None)

    @contextmanager
    def stream(
        self, operation: Operation[Any], /, *, params: Params | None = None, content: Any = None, **path: str | int
    ) -> Iterator[httpx.Response]:
        """Send ``operation`` and give its answer to read as it arrives (tar, log text, ndjson)."""
        request = _request(operation, params, None, content, path)
        try:
            with self._http.stream(
                operation.method, request.pop("url"), timeout=httpx.Timeout(None, connect=10.0), **request
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_error(response)
                yield response
        except httpx.HTTPError as exc:
            raise Unavailable(f"lost the connection to the kiln workspace at {self.url}: {exc}") from exc

    @staticmethod
    def _raise_for_error(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text
        raise error_from_json(payload, response.status_code)

    def close(self) -> None:
        self._http.close()


def _request(
    operation: Operation[Any], params: Params | None, json: Any, content: Any, path: dict[str, str | int]
) -> dict[str, Any]:
    """httpx's arguments for one request, after checking them against the operation."""
    unknown = sorted(set(params or {}) - set(operation.query))
    if unknown:
        raise TypeError(f"{operation.name} takes no query parameter {', '.join(unknown)} (it takes {operation.query})")
    if (json is not None) != (operation.body is not None):
        raise TypeError(f"{operation.name} {'takes' if operation.body is not None else 'takes no'} JSON body")
    if content is not None and operation.raw_body is None:
        raise TypeError(f"{operation.name} takes no raw body")
    request: dict[str, Any] = {"url": operation.url(**path)}
    if params:
        request["params"] = dict(params)
    if json is not None:
        request["json"] = json
    if content is not None:
        request["content"] = content
    return request


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}  # one per response type: building one is not free


def _parsed(response: type[R], data: Any) -> R:
    adapter = _ADAPTERS.get(response)
    if adapter is None:
        adapter = _ADAPTERS[response] = TypeAdapter(response)
    parsed: R = adapter.validate_python(data)
    return parsed
