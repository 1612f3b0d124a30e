"""kiln studio's audit page: owners see every change, newest first, filtered by time, user, kind and name
(a change made in the studio itself says so); readers have no such page, and nothing on it alters the log."""

from __future__ import annotations

from typing import Any

from tests.conftest import WorkspaceServer
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in


def test_owners_filter_the_audit_log_and_others_have_no_audit_page(browser: Any, studio: WorkspaceServer) -> None:
    with studio.client() as client:
        client.computes.create(name="audit-gpu", type="local")
        client.users.create("audit-rita", "reader")
        reader_token = client.users.create_token("audit-rita", expires_in="1d").token

    page = signed_in(browser, studio, next_path="/ui/users")
    page.fill("#user-name", "audit-sam")  # a change made in the studio, through the REST route
    page.click("#user-form button[type=submit]")
    page.wait_for_selector('tr[data-user="audit-sam"]')

    page.click("nav >> text=Audit")
    page.wait_for_url("**/ui/audit")
    rows = page.locator("#audit-table tbody tr[data-entry]")
    actions = rows.locator("th").all_inner_texts()
    assert actions[:4] == ["users.create", "users.create_token", "users.create", "computes.create"]  # newest first
    newest = rows.first.inner_text()
    assert "audit-sam" in newest and "role: reader" in newest
    assert "studio" in (rows.first.locator("td").nth(1).get_attribute("title") or "")
    check_accessibility(page)
    screenshot(page, "audit")

    page.select_option("#audit-kind", "compute")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url("**kind=compute**")
    assert rows.locator("th").all_inner_texts() == ["computes.create"]
    page.select_option("#audit-kind", "")
    page.fill("#audit-name", "audit-rita")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url("**name=audit-rita**")
    assert rows.locator("th").all_inner_texts() == ["users.create_token", "users.create"]
    page.fill("#audit-name", "")
    page.fill("#audit-user", "someone-else")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url("**user=someone-else**")
    assert rows.count() == 0 and "No changes match" in page.locator("#audit-table").inner_text()
    assert page.locator("#audit-table button, #audit-table form").count() == 0  # a read only
    page.context.close()

    reader = signed_in(browser, studio, reader_token)
    assert reader.locator("nav >> text=Audit").count() == 0
    refused = reader.goto(f"{studio.url}/ui/audit")
    assert refused is not None and refused.status == 403
    assert "reading the audit log needs owner" in reader.locator("main").inner_text()
    reader.context.close()
