"""An EncryptedClient wired to an EncryptedScorer in this process (httpx's MockTransport, the replica's
routes' logic), recording every body that crosses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kiln.errors import KilnError

pytest.importorskip("tenseal")

from kiln.encrypted.client import EncryptedClient  # noqa: E402
from kiln.encrypted.model_form import form_of  # noqa: E402
from kiln.serving.replica.encrypted_path import EncryptedScorer  # noqa: E402
from kiln.specs.replica import EncryptionSettings  # noqa: E402


class Wire:
    def __init__(self, scorer: EncryptedScorer) -> None:
        self.scorer = scorer
        self.bodies: list[bytes] = []

    def handle(self, request: Any) -> Any:
        import httpx

        body = request.read()
        self.bodies.append(body)
        path = request.url.path
        try:
            if path.endswith("/encrypted") and request.method == "GET":
                return httpx.Response(200, json=self.scorer.describe())
            if path.endswith("/encrypted/contexts"):
                return httpx.Response(200, json=self.scorer.register(body))
            if path.endswith("/encrypted/score"):
                answer = self.scorer.score(body)
                self.bodies.append(answer)
                return httpx.Response(200, content=answer)
        except KilnError as exc:
            return httpx.Response(exc.http_status, content=json.dumps(exc.to_json()))
        return httpx.Response(404)


@pytest.fixture
def wired() -> Callable[..., tuple[EncryptedClient, Wire]]:
    def make(model: Any, **settings: Any) -> tuple[EncryptedClient, Wire]:
        import httpx

        scorer = EncryptedScorer(Path("unused"), EncryptionSettings(**settings))
        scorer.serve(form_of(model))
        wire = Wire(scorer)
        http = httpx.Client(transport=httpx.MockTransport(wire.handle))
        return EncryptedClient("http://workspace/endpoints/digits/score", "key", http=http), wire

    return make
