"""HTTP to the workspace, one declared operation at a time (``kiln.api``): auth header, the error
tree rebuilt on this side, clear connection errors.

::

    rest.call(api.jobs.SHOW, name="train-1", params={"run_data": True})   # -> JobView
    with rest.stream(api.jobs.LOGS, name="train-1", params={"follow": True}) as response: ...

Each call fills the operation's path (every path parameter one escaped segment), refuses what the
operation does not take (a programming error: ``TypeError``), and parses a JSON answer into the
operation's response type. An answer 429 (``Busy``: the caller has as many requests of that kind in
flight as the server allows one user) is sent again after its ``Retry-After``, for up to
:data:`BUSY_PATIENCE_SECONDS`, when the request can be sent again (no streamed body).

A plain ``http://`` workspace with no proxy is reached through the standard library
(``kiln.sdk.plain_http``: a CLI command does not import httpx nor build a TLS context); any other through
httpx. Both answer with the same response interface (``status_code``, ``headers``, ``json()``,
``iter_bytes()``, ``iter_text()``, ``iter_lines()``, ``read()``).
"""

from __future__ import annotations

import json as jsonlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kiln.errors import Unavailable, error_from_json
from kiln.sdk.plain_http import ConnectionLost, PlainHttpClient, usable_for

if TYPE_CHECKING:  # pydantic's: imported by a call that parses an answer into a model, not by get_json
    from kiln.api.operation import Operation

R = TypeVar("R")
Params = Mapping[str, str | int | float | bool]
BUSY_PATIENCE_SECONDS = 120.0
CONNECT_TIMEOUT = 10.0


def user_agent() -> str:
    """What the workspace's audit log records of where a request came from: kiln's CLI or the SDK, its version."""
    from kiln import __version__

    program = Path(sys.argv[0] if sys.argv else "")
    cli = program.name == "kiln" or (program.name == "__main__.py" and program.parent.name == "kiln")
    return f"kiln-{'cli' if cli else 'sdk'}/{__version__} python/{sys.version.split()[0]}"


class RestClient:
    def __init__(self, url: str, token: str | None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token  # also what scores an endpoint whose auth_mode is aml_token
        headers = {"User-Agent": user_agent(), **({"Authorization": f"Bearer {token}"} if token else {})}
        self._http: Any  # httpx.Client, or PlainHttpClient in its shape
        self._stream_timeout: Any = None  # no bound on waiting for more of a streamed answer (a followed log)
        if usable_for(self.url):
            self._http = PlainHttpClient(self.url, headers, timeout=timeout, connect_timeout=CONNECT_TIMEOUT)
        else:
            import httpx

            self._http = httpx.Client(
                base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
            )
            self._stream_timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT)

    def call(
        self, operation: Operation[R], /, *, params: Params | None = None, json: Any = None, content: Any = None,
        **path: str | int,
    ) -> R:  # fmt: skip
        """Send ``operation`` and return its JSON answer as the operation's response type."""
        if not operation.is_json:
            raise TypeError(f"{operation.name} answers {operation.media_type}: use RestClient.stream")
        from kiln.specs.adapters import adapter_of

        request = _request(operation, params, json, content, path)
        url = request.pop("url")
        response = self._answer(operation.method, url, request, lambda: adapter_of(operation.response))
        return _parsed(operation.response, response.content)

    def get_json(self, path: str, params: Params | None = None) -> Any:
        """``GET path`` (a declared operation's path, filled in) and its JSON answer as plain Python data (lists,
        dicts): no model built nor imported, for a caller that only draws the answer (``kiln job list``)."""
        return self.send_json("GET", path, params)

    def send_json(
        self, method: str, path: str, params: Params | None = None, *, json: Any = None, content: Any = None
    ) -> Any:
        """``METHOD path`` (a declared operation's method and path, filled in) with a JSON or raw body, and its
        JSON answer as plain Python data: no model built nor imported (``kiln job create`` of a simple YAML file,
        ``kiln.sdk.simple_submit``; an upload's reference)."""
        request: dict[str, Any] = {"params": dict(params)} if params else {}
        if json is not None:
            request["json"] = json
        if content is not None:
            request["content"] = content
        response = self._answer(method, path, request, None)
        return jsonlib.loads(response.content) if response.content else None

    def _answer(self, method: str, url: str, request: dict[str, Any], prepare: Callable[[], object] | None) -> Any:
        """The answer to one request (sent again after a 429's pause while that is allowed), an error answer raised
        as its KilnError. ``prepare`` (the answer's parser, built once per type and process) runs while the server
        works on the request where the client lets it (``PlainHttpClient``), else first."""
        waited, start = 0.0, _start_of(request.get("content"))
        while True:
            try:
                if isinstance(self._http, PlainHttpClient):
                    response = self._http.request(method, url, **request, while_waiting=prepare)
                else:
                    if prepare is not None:
                        prepare()
                    response = self._http.request(method, url, **request)
            except _transport_errors() as exc:
                raise Unavailable(f"cannot reach the kiln workspace at {self.url}: {exc}") from exc
            pause = _busy_pause(response, request.get("content"), waited, start)
            if pause is None:
                break
            time.sleep(pause)
            waited += pause
        self._raise_for_error(response)
        return response

    @contextmanager
    def stream(
        self, operation: Operation[Any], /, *, params: Params | None = None, content: Any = None, **path: str | int
    ) -> Iterator[Any]:
        """Send ``operation`` and give its answer to read as it arrives (tar, log text, ndjson)."""
        request = _request(operation, params, None, content, path)
        url = request.pop("url")
        waited, start = 0.0, _start_of(content)
        try:
            while True:
                with self._http.stream(operation.method, url, timeout=self._stream_timeout, **request) as response:
                    if response.status_code >= 400:
                        response.read()
                        pause = _busy_pause(response, content, waited, start)
                        if pause is not None:
                            time.sleep(pause)
                            waited += pause
                            continue
                        self._raise_for_error(response)
                    yield response
                    return
        except _transport_errors() as exc:
            raise Unavailable(f"lost the connection to the kiln workspace at {self.url}: {exc}") from exc

    @staticmethod
    def _raise_for_error(response: Any) -> None:
        if response.status_code < 400:
            return
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text
        raise error_from_json(payload, response.status_code)

    def close(self) -> None:
        self._http.close()


def _start_of(content: Any) -> int | None:
    """Where a file body starts, to rewind it for sending again; None for any other body."""
    seekable = getattr(content, "seekable", None)
    return int(content.tell()) if callable(seekable) and seekable() else None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What either HTTP client raises when the workspace cannot be reached (httpx's only if it was imported)."""
    httpx = sys.modules.get("httpx")
    return (ConnectionLost, httpx.HTTPError) if httpx is not None else (ConnectionLost,)


def _busy_pause(response: Any, content: Any, waited: float, start: int | None = None) -> float | None:
    """Seconds to wait before sending a request the server answered 429 again; None: do not send it again.

    A body can be sent again when it is bytes or text, or a file that can be rewound (an upload's archive:
    it is rewound here); a body read from a stream cannot."""
    if response.status_code != 429:
        return None
    if not (content is None or isinstance(content, bytes | str)):
        if start is None:
            return None
        content.seek(start)
    try:
        pause = min(max(float(response.headers.get("retry-after", "1")), 0.1), 10.0)
    except ValueError:
        pause = 1.0
    return pause if waited + pause <= BUSY_PATIENCE_SECONDS else None


def _request(
    operation: Operation[Any], params: Params | None, json: Any, content: Any, path: dict[str, str | int]
) -> dict[str, Any]:
    """The HTTP client's arguments for one request, after checking them against the operation."""
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


def _parsed(response: type[R], content: bytes) -> R:
    """The answer's JSON as ``response``, parsed and validated in one pass (pydantic's own JSON reader: a list
    of a thousand jobs is read without building Python's dicts first); an empty answer is None."""
    from kiln.specs.adapters import adapter_of

    adapter = adapter_of(response)
    parsed: R = adapter.validate_json(content) if content else adapter.validate_python(None)
    return parsed
