"""Signing in and out of kiln studio, the one-time link of `kiln ui`, CSRF, and pages that do not exist."""

from __future__ import annotations

import re

import httpx

from tests.conftest import WorkspaceServer
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in
from tests.readme_commands import section_commands


def test_sign_in_then_out_ends_the_session_for_every_copy_of_the_cookie(browser, studio: WorkspaceServer) -> None:
    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{studio.url}/ui/jobs")
    assert "/login?next=/ui/jobs" in anonymous.url  # a page asks for sign-in first
    check_accessibility(anonymous)
    screenshot(anonymous, "sign-in")
    anonymous.fill("#token", "kiln_not-a-token")
    anonymous.click("button[type=submit]")
    assert "not valid for this workspace" in anonymous.locator("[role=alert]").inner_text()
    anonymous.context.close()

    page = signed_in(browser, studio)
    assert page.locator("header .who").inner_text().startswith("workspace · owner")
    cookie = next(c for c in page.context.cookies() if c["name"] == "kiln_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert studio.token not in cookie["value"]  # the cookie is a session, never the token
    copied = {"kiln_session": cookie["value"]}
    assert httpx.get(f"{studio.url}/api/v1/jobs", cookies=copied).status_code == 200

    page.click("text=Sign out")
    page.wait_for_url("**/login")
    assert httpx.get(f"{studio.url}/api/v1/jobs", cookies=copied).status_code == 401  # the copy ended too
    page.goto(f"{studio.url}/ui/jobs")
    assert "/login" in page.url
    page.context.close()


def test_the_kiln_ui_link_signs_in_once(browser, studio: WorkspaceServer) -> None:
    # the README's "kiln studio" commands as written (`kiln ui` without a display prints its link too)
    links, no_display = [], {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    for command in section_commands("kiln studio"):
        printed = studio.cli(*command.as_usage(), check=True, env=no_display).stdout
        links.append(re.search(r"http://\S+", printed).group(0))
    assert len(links) == 2 and links[0] != links[1]  # a new code each time
    link = links[-1]
    assert studio.token not in link and "/login?code=" in link
    page = browser.new_context().new_page()
    page.goto(link)
    page.click("text=Continue to kiln studio")  # one click; a GET alone signs nobody in
    page.wait_for_url("**/ui/jobs")
    assert "workspace · owner" in page.locator("header .who").inner_text()

    again = browser.new_context().new_page()
    again.goto(link)
    again.click("text=Continue to kiln studio")
    assert "used already" in again.locator("[role=alert]").inner_text()  # one use only
    page.context.close()
    again.context.close()


def test_a_browser_write_without_the_pages_csrf_token_is_refused(browser, studio: WorkspaceServer) -> None:
    page = signed_in(browser, studio)
    cookies = {"kiln_session": next(c["value"] for c in page.context.cookies() if c["name"] == "kiln_session")}
    forged = httpx.post(f"{studio.url}/api/v1/whoami/sign-in-codes", cookies=cookies)
    assert forged.status_code == 403 and "CSRF" in forged.json()["error"]["message"]
    wrong = httpx.post(f"{studio.url}/api/v1/whoami/sign-in-codes", cookies=cookies, headers={"x-kiln-csrf": "0" * 64})
    assert wrong.status_code == 403
    token = page.locator('meta[name="kiln-csrf"]').get_attribute("content")
    allowed = httpx.post(f"{studio.url}/api/v1/whoami/sign-in-codes", cookies=cookies, headers={"x-kiln-csrf": token})
    assert allowed.status_code == 201
    # a program's token needs no CSRF token: it is not sent by the browser on its own
    by_token = httpx.post(
        f"{studio.url}/api/v1/whoami/sign-in-codes", headers={"authorization": f"Bearer {studio.token}"}
    )
    assert by_token.status_code == 201
    page.context.close()


def test_a_page_that_does_not_exist_is_a_page_not_a_trace(browser, studio: WorkspaceServer) -> None:
    page = signed_in(browser, studio)
    answer = page.goto(f"{studio.url}/ui/no-such-page")
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "Traceback" not in page.content()
    check_accessibility(page)
    page.context.close()
