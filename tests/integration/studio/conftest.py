"""kiln studio in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright's Python API,
against a real workspace server. ``scripts/test.sh`` installs Chromium where it is missing.

- ``browser``: one Chromium per test module (stopped after it: see the fixture).
- ``studio``: a workspace server for the module's tests (module-scoped).
- ``signed_in(browser, server, token)``: a new browser context signed in through the sign-in page.
- ``check_accessibility(page)``: axe-core (npm, ``src/kiln/studio/web``) run in the page; fails on any
  critical violation, naming each.
- ``screenshot(page, name)``: a PNG under ``build/screenshots/`` (the README shows the best of them).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, WorkspaceServer, cleanup_jobs, server_env
from tests.lanes import server_fixture

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = REPO / "src" / "kiln" / "studio" / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "build" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it is started, and the
    next module on the same worker may call asyncio.run (which refuses to run inside another loop)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: apt-get install chromium (scripts/test.sh does it)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@server_fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-studio-home")
    server = WorkspaceServer(home, server_env(home, local_concurrency="4")).start()
    yield server
    server.stop()
    cleanup_jobs(home)


def signed_in(browser: Any, server: WorkspaceServer, token: str | None = None, next_path: str = "/ui/jobs") -> Any:
    """A page in a fresh browser context, signed in at /login with ``token`` (default: the workspace token)."""
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("#token", token or server.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")
    return page


def check_accessibility(page: Any) -> None:
    """No critical axe-core violation on the page as it is now."""
    assert AXE.exists(), "axe-core is missing: run scripts/install.sh test (npm ci in src/kiln/studio/web)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    critical = [v for v in result["violations"] if v.get("impact") == "critical"]
    assert not critical, f"critical accessibility violations on {page.url}:\n" + json.dumps(
        [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in critical], indent=1
    )


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
