"""The tab's one notification stream: a single connection across screens, and a
`reset` from the server (events were missed) reloads what the screen shows."""

from __future__ import annotations

from playwright.sync_api import Page, Request, Route, expect

from fixtures.browser import sign_up


def test_one_connection_per_tab_across_screens(page: Page) -> None:
    opened: list[Request] = []
    page.on("request", lambda r: opened.append(r) if "/v1/coach/events" in r.url else None)
    sign_up(page)
    for link in ("Coach", "Sessions", "Home", "Coach", "Home"):
        page.get_by_role("link", name=link, exact=True).click()
    expect(page.get_by_role("region", name="Today's briefing")).to_be_visible()
    assert len(opened) == 1, [r.url for r in opened]
    assert opened[0].headers.get("authorization", "").startswith("Bearer ")


def test_a_reset_reloads_the_screen(page: Page) -> None:
    forged: list[str] = []

    def resume_from_the_future(route: Route) -> None:
        # An id older than anything kept (NOTIFY_TTL_SECONDS): the server answers `reset` first.
        headers = {**route.request.headers, "last-event-id": "1-0"}
        forged.append(headers["last-event-id"])
        route.continue_(headers=headers)

    account = sign_up(page)
    page.route("**/v1/coach/events", resume_from_the_future)
    # Signing in again opens a new notification connection, which the route changes.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email", exact=True).fill(account.email)
    page.get_by_label("Password", exact=True).fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Some updates were missed")).to_be_visible()
    expect(page.get_by_role("region", name="Today's briefing")).to_be_visible()
    assert forged
