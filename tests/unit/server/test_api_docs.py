"""/docs works offline: the page and every file it loads come from kiln itself, without a token."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kiln.config import Settings
from kiln.server.api_docs import ASSETS
from kiln.server.app import create_app


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    app: FastAPI = create_app(Settings(home=tmp_path_factory.mktemp("home")))
    return TestClient(app)  # not entered: the lifespan does not start; the auth middleware is there


def test_the_docs_page_loads_only_files_kiln_serves_itself(http: TestClient) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    loaded = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", page.text
    )
    assert any(url.endswith("swagger-ui-bundle.js") for url in loaded)
    assert not [url for url in loaded if "://" in url or url.startswith("//")], loaded  # no CDN, no other host
    for url in loaded:
        answer = http.get(url)  # no token: /docs must work for anyone who may read the API's description
        assert answer.status_code == 200, url
        assert answer.content, url
    assert (
        http.get(f"{ASSETS}/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert "SwaggerUIBundle" in http.get(f"{ASSETS}/swagger-ui-bundle.js").text


def test_the_assets_folder_opens_nothing_else_without_a_token(http: TestClient) -> None:
    # (the client folds a plain '..' into the path it sends: that one reaches the API, which wants a token)
    for path in (f"{ASSETS}/../../api/v1/users", f"{ASSETS}/%2e%2e/%2e%2e/api/v1/users", f"{ASSETS}/..%2f..%2ftoken"):
        answer = http.get(path)
        assert answer.status_code in (401, 404), (path, answer.status_code)
        assert "users" not in answer.text and "kiln_" not in answer.text, path
    assert http.get("/api/v1/users").status_code == 401
