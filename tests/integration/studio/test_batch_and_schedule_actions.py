"""kiln studio in headless Chromium against one real workspace server: the batch endpoints page (an endpoint, its
scripted deployment marked default, an invocation whose job runs to completion while the page reloads itself, its
link leading to the job's page) and the schedules page's Enable/Disable buttons (the REST routes called by the
browser with the session cookie and CSRF token; absent for a reader, whose forged call is refused)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from kiln.specs.users import Role
from tests.conftest import WorkspaceServer, wait_for
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in

SCORE = """
def init():
    pass

def run(mini_batch):
    return [{"file": path.rsplit("/", 1)[-1], "rows": sum(1 for _ in open(path)) - 1} for path in mini_batch]
"""


def scripted_endpoint(studio: WorkspaceServer, folder: Path) -> None:
    """Endpoint ``studio-scores`` with the scripted deployment ``counter`` (its default) that counts each file's rows."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text("1\n")
    (folder / "code").mkdir()
    (folder / "code" / "score.py").write_text(textwrap.dedent(SCORE))
    with studio.client() as client:
        client.batch_endpoints.create({"name": "studio-scores", "description": "counts rows"})
        client.batch_deployments.create(
            {
                "name": "counter", "endpoint_name": "studio-scores",
                "model": {"path": str(folder / "model"), "type": "custom_model"},
                "code_configuration": {"code": str(folder / "code"), "scoring_script": "score.py"},
                "mini_batch_size": 2, "max_concurrency_per_instance": 1,
            }
        )  # fmt: skip


def test_the_batch_endpoints_page_shows_deployments_and_an_invocation_to_its_end(  # type: ignore[no-untyped-def]
    browser, studio: WorkspaceServer, tmp_path: Path
) -> None:
    scripted_endpoint(studio, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    for index in range(3):
        (data / f"part-{index}.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(10 + index)))
    with studio.client() as client:
        job = client.batch_endpoints.invoke("studio-scores", data)

    page = signed_in(browser, studio, next_path="/ui/batch-endpoints")
    section = page.locator("#batch-studio-scores")
    deployment = section.locator("table").first.locator("tbody tr", has_text="counter")
    assert "default" in deployment.inner_text() and "score.py" in deployment.inner_text()
    link = f"a[href='/ui/jobs/{job.name}']"
    invocation = section.locator(link)
    assert invocation.count() == 1
    # while it runs the page reloads itself (meta refresh); its row ends completed
    wait_for(
        lambda: "completed" in section.locator("tr", has=page.locator(link)).inner_text(), timeout=180, what="completed"
    )
    assert page.locator("meta[http-equiv='refresh']").count() == 0  # nothing live: no more reloads
    assert job.wait(timeout=30).status.value == "completed"
    check_accessibility(page)
    screenshot(page, "studio-batch-endpoints")
    invocation.click()
    page.wait_for_url(f"**/ui/jobs/{job.name}")
    assert page.locator("#job").get_attribute("data-name") == job.name
    page.context.close()


def test_schedules_are_disabled_and_enabled_from_the_page_and_a_reader_gets_no_buttons(  # type: ignore[no-untyped-def]
    browser, studio: WorkspaceServer
) -> None:
    with studio.client() as client:
        client.schedules.create({
            "name": "studio-hourly", "trigger": {"type": "cron", "expression": "0 * * * *"},
            "create_job": {"command": "true"},
        })  # fmt: skip
    page = signed_in(browser, studio, next_path="/ui/schedules")
    page.on("dialog", lambda dialog: dialog.accept())  # Disable asks first
    row = page.locator("#schedules tr[data-name='studio-hourly']")
    assert "enabled" in row.locator("td").nth(1).inner_text()
    row.get_by_role("button", name="Disable schedule studio-hourly").click()
    page.wait_for_function(
        "() => document.querySelector(\"#schedules tr[data-name='studio-hourly'] .enable-schedule\") !== null"
    )  # the page reloaded with the schedule disabled
    assert row.locator(".next-run").inner_text() == "none"
    with studio.client() as client:
        assert not client.schedules.get("studio-hourly").enabled
    check_accessibility(page)
    row.get_by_role("button", name="Enable schedule studio-hourly").click()
    page.wait_for_function(
        "() => document.querySelector(\"#schedules tr[data-name='studio-hourly'] .disable-schedule\") !== null"
    )
    with studio.client() as client:
        enabled = client.schedules.get("studio-hourly")
    assert enabled.enabled and enabled.next_run_at is not None
    assert row.locator(".next-run").inner_text() != "none"
    page.context.close()

    with studio.client() as client:
        client.users.create("schedules-reader", Role.READER)
        token = client.users.create_token("schedules-reader", expires_in="1d").token
    reader = signed_in(browser, studio, token, next_path="/ui/schedules")
    assert reader.locator("#schedules tr[data-name='studio-hourly']").count() == 1
    assert reader.locator("#schedules button").count() == 0 and reader.locator("th", has_text="Actions").count() == 0
    csrf = reader.locator("meta[name='kiln-csrf']").get_attribute("content")
    cookies = {c["name"]: c["value"] for c in reader.context.cookies()}
    forged = httpx.post(
        f"{studio.url}/api/v1/schedules/studio-hourly/disable", cookies=cookies, headers={"X-Kiln-CSRF": csrf or ""}
    )
    assert forged.status_code == 403, forged.text
    reader.context.close()
    with studio.client() as client:
        assert client.schedules.get("studio-hourly").enabled
        client.schedules.delete("studio-hourly")


@pytest.fixture(autouse=True)
def _no_leftover_schedules(studio: WorkspaceServer):  # type: ignore[no-untyped-def]
    yield
    with studio.client() as client:
        for schedule in client.schedules.list():
            client.schedules.delete(schedule.name)
