"""kiln studio's schedules page in headless Chromium against a real workspace server: a schedule whose first run
has started shows its state, trigger, next run, last run and a link to the job that run started (which leads to
the job's page); a disabled one shows no next run; a name with markup is shown as text; a reader sees the page."""

from __future__ import annotations

from datetime import timedelta

from kiln.clock import utcnow
from kiln.specs.users import Role
from tests.conftest import WorkspaceServer, wait_for
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in


def test_the_schedules_page_lists_each_schedule_with_its_next_and_last_run(browser, studio: WorkspaceServer) -> None:  # type: ignore[no-untyped-def]
    start = utcnow() + timedelta(seconds=2)
    trigger = {"type": "recurrence", "frequency": "minute", "interval": 5, "start_time": start.isoformat()}
    with studio.client() as client:
        client.schedules.create({
            "name": "studio-every-five", "display_name": "<b>every five</b>", "trigger": trigger,
            "create_job": {"command": "python -c \"print('from the studio test')\""},
        })  # fmt: skip
        client.schedules.create({
            "name": "studio-nightly", "trigger": {"type": "cron", "expression": "0 2 * * *", "time_zone": "Europe/Paris"},
            "create_job": {"command": "true"},
        })  # fmt: skip
        client.schedules.disable("studio-nightly")
        ran = wait_for(lambda: client.schedules.get("studio-every-five").last_job, timeout=120, what="the first run")

        page = signed_in(browser, studio, next_path="/ui/schedules")
        row = page.locator("#schedules tr[data-name='studio-every-five']")
        assert "<b>every five</b>" in row.inner_text() and row.locator("b").count() == 0  # text, not markup
        assert "every 5 minute" in row.inner_text() and "enabled" in row.inner_text()
        assert row.locator(".next-run").inner_text().startswith(str(start.year))
        assert row.locator(".last-run").inner_text() != "never"
        disabled = page.locator("#schedules tr[data-name='studio-nightly']")
        assert "disabled" in disabled.inner_text() and disabled.locator(".next-run").inner_text() == "none"
        assert "cron '0 2 * * *' (Europe/Paris)" in disabled.inner_text()
        check_accessibility(page)
        screenshot(page, "studio-schedules")
        row.locator(f"a[href='/ui/jobs/{ran}']").click()
        page.wait_for_url(f"**/ui/jobs/{ran}")
        assert page.locator("#job").get_attribute("data-name") == ran
        page.context.close()

        client.users.create("schedule-reader", Role.READER)
        token = client.users.create_token("schedule-reader", expires_in="1d").token
        reader = signed_in(browser, studio, token, next_path="/ui/schedules")
        assert reader.locator("#schedules tbody tr").count() == 2
        reader.context.close()
        for name in ("studio-every-five", "studio-nightly"):
            client.schedules.delete(name)
