"""The tab's one notification stream: a single connection across screens, and a
`reset` from the server (events were missed) reloads what the screen shows."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis.asyncio as redis
from playwright.sync_api import Page, Request, Response, Route, expect

from fixtures.browser import api_token, sign_up
from fixtures.stack import Stack
from pacer_common import notifications
from pacer_devstack.valkey import redis_url


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


def test_a_failed_job_is_said_without_blocking_the_page(page: Page, web_stack: Stack) -> None:
    streams: list[Response] = []
    page.on("response", lambda r: streams.append(r) if "/v1/coach/events" in r.url else None)
    account = sign_up(page)
    token = api_token(web_stack, account)
    user_id = httpx.get(
        f"{web_stack.url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["id"]
    # Once the stream's headers are in, the server has fixed where it reads from:
    # an event published after that reaches the tab.
    deadline = time.monotonic() + 15
    while not streams:
        assert time.monotonic() < deadline, "the notification stream did not open"
        page.wait_for_timeout(50)
    assert streams[0].status == 200

    async def publish() -> None:
        client = redis.Redis.from_url(redis_url(web_stack.port("REDIS_PORT")))
        try:
            await notifications.publish(
                client, user_id, "job.failed", {"type": "job.failed", "kind": "briefing"}
            )
        finally:
            await client.aclose()

    with page.expect_response(lambda r: r.url.endswith("/v1/home")) as reloaded:
        # Playwright's sync API keeps an event loop running in this thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, publish()).result()
    assert reloaded.value.ok
    expect(page.get_by_role("status").filter(has_text="could not be prepared")).to_contain_text(
        "Today's briefing could not be prepared; Pacer will try again later."
    )
    # Non-blocking: the page still works.
    page.get_by_role("link", name="Coach", exact=True).click()
    expect(page.get_by_label("Message", exact=True)).to_be_editable()
