"""kiln studio's privacy pages in Chromium: the private versions' list leads to a version's budget (total, spent,
left) and its ledger, which shows each query as it is charged; an owner sees the version's raw rows in its preview,
a contributor sees the budget and the ledger but never a row."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import WorkspaceServer
from tests.integration.privacy.conftest import METADATA, installed_engine
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in

SECRET_ID = "918273645"  # a private id of the raw rows: never on a page a contributor reads


@pytest.fixture(scope="module")
def private(studio: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private version (epsilon 3) of 200 made-up patients, and a contributor's token."""
    installed_engine()
    folder = tmp_path_factory.mktemp("privacy-studio")
    rows = [f"{SECRET_ID if pid == 0 else pid},{'FM'[pid % 2]},{18 + pid % 70}" for pid in range(200)]
    (folder / "patients.csv").write_text("pid,sex,age\n" + "\n".join(rows) + "\n")
    name = f"patients_{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name, "version": "1", "type": "uri_file", "path": str(folder / "patients.csv"),
        "privacy": {"epsilon": 3.0, "delta": 1e-6, "metadata": METADATA},
    }  # fmt: skip
    with studio.client() as client:
        client.data.create(spec)
        client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=0.5)
        client.users.create("carla", "contributor")
        token = client.users.create_token("carla").token
    return {"name": name, "contributor": token}


def facts(page: Any) -> str:
    return " ".join(page.locator("#budget").inner_text().split())


def test_the_owner_sees_the_budget_the_ledger_and_the_rows(browser, studio: WorkspaceServer, private) -> None:  # type: ignore[no-untyped-def]
    name = private["name"]
    page = signed_in(browser, studio, next_path="/ui/privacy")
    page.click(f"#private-versions a[href='/ui/privacy/{name}/1']")
    page.wait_for_url(f"**/ui/privacy/{name}/1")
    assert "3.0 in all; spent 0.5, left 2.5" in facts(page)
    ledger = page.locator("#ledger tbody tr")
    assert ledger.count() == 1 and f"SELECT COUNT(*) AS n FROM {name}" in ledger.first.inner_text()
    assert "query" in ledger.first.inner_text() and "0.5" in ledger.first.inner_text()
    check_accessibility(page)
    page.click(f"h1 a[href='/ui/data/{name}/1']")  # the version's own page: its rows, for an owner
    page.wait_for_url(f"**/ui/data/{name}/1")
    assert SECRET_ID in page.locator("table.preview").inner_text()
    assert "spent, left and the ledger" in page.inner_text("main")


def test_a_contributor_sees_the_budget_and_each_query_charged_but_no_row(  # type: ignore[no-untyped-def]
    browser, studio: WorkspaceServer, private
) -> None:
    name = private["name"]
    page = signed_in(browser, studio, token=private["contributor"], next_path=f"/ui/privacy/{name}/1")
    before = page.locator("#ledger tbody tr").count()
    with studio.client(token=private["contributor"]) as client:
        answer = client.privacy.query(name, "1", f"SELECT AVG(age) AS mean_age FROM {name}", epsilon=0.25)
    page.reload()
    ledger = page.locator("#ledger tbody tr")
    assert ledger.count() == before + 1
    newest = ledger.last.inner_text()
    assert "carla" in newest and "AVG(age)" in newest and "0.25" in newest
    assert f"left {answer.remaining_epsilon:.4g}" in facts(page)
    check_accessibility(page)
    screenshot(page, "privacy-budget")
    page.goto(f"{studio.url}/ui/data/{name}/1")  # the version's page: its facts, no rows
    assert "its rows are shown to owners only" in page.inner_text("main")
    assert page.locator("table.preview").count() == 0 and SECRET_ID not in page.content()
    check_accessibility(page)
