"""The app's own answers, in-process (its lifespan never starts): errors that arise before any handler runs
come in the API's error shape, with a status the OpenAPI document declares."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kiln.config import Settings
from kiln.server.app import create_app


def test_a_body_that_is_not_utf8_is_refused_as_invalid_in_the_apis_error_shape(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    token = (tmp_path / "token").read_text().strip()
    http = TestClient(app, headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
    for body in (b"\x80{}", b'{"name": "\xe9"}'):  # found by the REST fuzzer (tests/security/test_fuzz.py)
        answer = http.post("/api/v1/online-endpoints", content=body)
        assert answer.status_code == 422, answer.text
        assert answer.json() == {
            "error": {
                "type": "InvalidSpec",
                "message": "the request body could not be read: send JSON in UTF-8 (Content-Type: application/json)",
            }
        }
    assert http.get("/no/such/route").json() == {"detail": "Not Found"}  # other HTTP errors: as FastAPI answers them
