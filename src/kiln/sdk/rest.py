"""HTTP to the workspace: auth header, error tree rebuilt on this side, clear connection errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from kiln.errors import Unavailable, error_from_json


class RestClient:
    def __init__(self, url: str, token: str | None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach the kiln workspace at {self.url}: {exc}") from exc
        self._raise_for_error(response)
        return response.json() if response.content else None

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, path, timeout=httpx.Timeout(None, connect=10.0), **kwargs) as response:
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
