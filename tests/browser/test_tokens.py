"""Tokens in the browser: the access token in memory only, the refresh token in an
HttpOnly cookie, a 401 refreshed once and retried, a failed refresh back to sign-in."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Route, expect

from fixtures.browser import PageErrors, sign_up

EXPIRED = json.dumps({"error": {"code": "unauthorized", "message": "The token has expired."}})


def test_nothing_readable_by_scripts_and_a_reload_keeps_the_session(page: Page) -> None:
    sign_up(page)
    cookies = {c["name"]: c for c in page.context.cookies()}
    refresh = cookies["pacer_refresh"]
    assert refresh["httpOnly"] is True
    assert refresh["sameSite"] == "Strict"
    assert refresh["path"] == "/v1/auth"
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    page.reload()
    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()


def test_a_401_refreshes_once_and_retries(page: Page, page_errors: PageErrors) -> None:
    page_errors.allow(r"status of 401 .*/v1/home$")
    sign_up(page)
    refreshes: list[str] = []
    page.on(
        "request", lambda r: refreshes.append(r.url) if r.url.endswith("/v1/auth/refresh") else None
    )
    answered: list[int] = []

    def expire_once(route: Route) -> None:
        if not answered:
            answered.append(401)
            route.fulfill(status=401, content_type="application/json", body=EXPIRED)
        else:
            answered.append(200)
            route.continue_()

    page.route("**/v1/home", expire_once)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_role("link", name="Home", exact=True).click()
    expect(page.get_by_role("region", name="This week")).to_be_visible()
    assert answered[:2] == [401, 200]
    assert len(refreshes) == 1


def test_a_failed_refresh_goes_back_to_sign_in(page: Page, page_errors: PageErrors) -> None:
    page_errors.allow(r"status of 401 .*/v1/home$")
    sign_up(page)
    page.route(
        "**/v1/home",
        lambda route: route.fulfill(status=401, content_type="application/json", body=EXPIRED),
    )
    # The session ends on the server (another tab signed out): the refresh fails too.
    page.context.clear_cookies()
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_role("link", name="Home", exact=True).click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Your session has ended; please sign in again.")).to_be_visible()
