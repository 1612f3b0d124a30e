"""kiln studio under attack: who may open its pages, what a page may show, and what a browser may write.

- Every studio page (every GET route under ``/ui/``, found in the app itself, so a new page is probed
  too) sends a browser without a session to sign-in and a program without credentials away with 401.
- A signed-in member of each role opens every page without a server error, and no page holds a token.
- Every write of the REST contract sent with a browser's cookie but without the page's CSRF token is
  refused with 403 before anything happens, even for the owner; a wrong or another session's token too.
- Sessions: the cookie is HttpOnly and SameSite=Strict, new at each sign-in, worthless after sign-out;
  a job's own token cannot sign a browser in; a sign-in link works once, for its own user only.
- Assets: only the named files; no way out of the assets' folders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from kiln import api
from kiln.config import Settings
from kiln.server.app import create_app
from tests.conftest import WorkspaceServer
from tests.security.conftest import Seeded, Team

WRITES = [op for op in api.operations().values() if op.method != "GET"]


def studio_pages(home: Path, seeded: Seeded) -> list[str]:
    """Every page path of the app, its parameters filled with seeded names (an unknown one: 'x')."""
    names = {
        "jobs": {"name": seeded.job}, "models": {"name": seeded.model, "version": seeded.model_version},
        "data": {"name": seeded.data, "version": seeded.data_version}, "endpoints": {"name": seeded.endpoint},
        "users": {"name": seeded.team.reader.name}, "compute": {"name": "local"},
        "environments": {"name": "python", "version": "1"}, "rai": {"name": seeded.job},
    }  # fmt: skip
    paths = []
    for context in iter_route_contexts(create_app(Settings(home=home)).routes):
        path = context.path
        if not isinstance(context.original_route, APIRoute) or "GET" not in (context.methods or ()):
            continue
        if not path.startswith("/ui/") or path.startswith("/ui/assets/"):
            continue
        values = names.get(path.split("/")[2], {})
        paths.append(re.sub(r"\{(\w+)(:path)?\}", lambda m, values=values: values.get(m.group(1), "x"), path))
    assert "/ui/jobs" in paths
    return paths


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, seeded: Seeded) -> list[str]:
    return studio_pages(tmp_path_factory.mktemp("app"), seeded)


def sign_in(server: WorkspaceServer, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=server.url, headers={"accept": "text/html"}, timeout=60)
    answer = browser.post("/login", data={"token": token, "next": "/ui/jobs"})
    assert answer.status_code == 303, answer.text
    return browser


@pytest.fixture(scope="module")
def sessions(security_server: WorkspaceServer, team: Team) -> Iterator[dict[str, httpx.Client]]:
    browsers = {member.role.value: sign_in(security_server, member.token) for member in team.members}
    browsers["workspace"] = sign_in(security_server, team.workspace_token)
    yield browsers
    for browser in browsers.values():
        browser.close()


def test_no_page_opens_without_a_session(security_server: WorkspaceServer, pages: list[str]) -> None:
    with httpx.Client(base_url=security_server.url, timeout=60) as anonymous:
        for path in pages:
            html = anonymous.get(path, headers={"accept": "text/html"})
            assert html.status_code == 303 and html.headers["location"].startswith("/login?next="), path
            program = anonymous.get(path)
            assert program.status_code == 401, path


def test_every_member_opens_every_page_and_no_page_holds_a_token(
    sessions: dict[str, httpx.Client], pages: list[str], team: Team, seeded: Seeded
) -> None:
    secrets = [member.token for member in team.members] + [team.workspace_token, seeded.job_token]
    for role, browser in sessions.items():
        for path in pages:
            answer = browser.get(path)
            assert answer.status_code in (200, 403, 404, 422), (role, path, answer.status_code, answer.text[-500:])
            assert answer.headers["content-type"].startswith("text/html"), (role, path)  # a page, even refusing
            assert "Traceback" not in answer.text, (role, path)
            leaked = [secret[:9] for secret in secrets if secret in answer.text]
            assert not leaked, (role, path, leaked)


def _csrf(browser: httpx.Client) -> str:
    found = re.search(r'<meta name="kiln-csrf" content="([0-9a-f]+)">', browser.get("/ui/jobs").text)
    assert found, "a signed-in page carries its CSRF token"
    return found.group(1)


@pytest.mark.parametrize("operation", WRITES, ids=lambda op: op.name)
def test_a_browser_write_without_its_pages_csrf_token_is_refused(
    operation: Any, sessions: dict[str, httpx.Client], seeded: Seeded
) -> None:
    owner, other = sessions["workspace"], sessions["owner"]
    path = operation.path.format(**seeded.values_for(operation))
    for headers in ({}, {"x-kiln-csrf": "0" * 64}, {"x-kiln-csrf": _csrf(other)}):  # none, forged, another's
        answer = owner.request(operation.method, path, headers={"accept": "application/json", **headers}, json={})
        assert answer.status_code == 403, (operation.name, headers, answer.status_code, answer.text[:300])
        assert "CSRF" in answer.json()["error"]["message"]


def test_sessions_are_new_at_each_sign_in_and_end_with_sign_out(security_server: WorkspaceServer, team: Team) -> None:
    first, second = sign_in(security_server, team.reader.token), sign_in(security_server, team.reader.token)
    cookie_one, cookie_two = first.cookies["kiln_session"], second.cookies["kiln_session"]
    assert cookie_one != cookie_two and team.reader.token not in cookie_one
    with httpx.Client(base_url=security_server.url) as raw:
        answer = raw.post("/login", data={"token": team.reader.token})
        set_cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/" in set_cookie
    logout = first.post("/logout", headers={"x-kiln-csrf": _csrf(first)})
    assert logout.status_code == 204
    copy = httpx.get(f"{security_server.url}/api/v1/whoami", cookies={"kiln_session": cookie_one})
    assert copy.status_code == 401  # the copied cookie ended with the session
    still = httpx.get(f"{security_server.url}/api/v1/whoami", cookies={"kiln_session": cookie_two})
    assert still.status_code == 200 and still.json()["name"] == team.reader.name  # the other session lives on
    first.close()
    second.close()


def test_a_jobs_token_cannot_sign_in_and_a_link_signs_in_its_own_user_once(
    security_server: WorkspaceServer, team: Team, seeded: Seeded
) -> None:
    with httpx.Client(base_url=security_server.url) as raw:
        assert raw.post("/login", data={"token": seeded.job_token}).status_code == 401  # revoked with its job
        code = raw.post("/api/v1/whoami/sign-in-codes", headers={"authorization": f"Bearer {team.reader.token}"})
        assert code.status_code == 201
        link = code.json()["url_path"]
        assert team.reader.token not in link
        signed = raw.post("/login", data={"code": link.split("code=", 1)[1]})
        assert signed.status_code == 303
        who = raw.get("/api/v1/whoami", cookies={"kiln_session": signed.cookies["kiln_session"]})
        assert who.json()["name"] == team.reader.name and who.json()["role"] == "reader"  # not more
        again = raw.post("/login", data={"code": link.split("code=", 1)[1]})
        assert again.status_code == 401


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fpyproject.toml", "%2e%2e%2fstudio.css", "package.json", "package-lock.json", "axe.min.js",
        "..", ".", "htmx.org%2Fpackage.json", "studio.css%00.png", "node_modules",
    ],
)  # fmt: skip
def test_assets_serve_only_their_named_files(security_server: WorkspaceServer, name: str) -> None:
    answer = httpx.get(f"{security_server.url}/ui/assets/{name}")
    assert answer.status_code in (404, 401), (name, answer.status_code)
    assert "[project]" not in answer.text and '"dependencies"' not in answer.text


def test_the_sign_in_page_sends_nowhere_else(security_server: WorkspaceServer, team: Team) -> None:
    with httpx.Client(base_url=security_server.url) as raw:
        for target in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
            answer = raw.post("/login", data={"token": team.reader.token, "next": target})
            assert answer.headers["location"] == "/ui/jobs", target
