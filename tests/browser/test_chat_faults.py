"""Coach chat as a person meets its faults: a silent coach, a coach killed
mid-reply, Stop, an `error` event, the monthly quota."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
from playwright.sync_api import Locator, Page, Request, expect

from fixtures.browser import Account, PageErrors, Sim, api_token, sign_up, stored_conversation
from fixtures.stack import Stack
from pacer_devstack.postgres import database_url

SOME_WORDS = re.compile(r"(\S+ ){6}")


def _ask(page: Page, message: str) -> Locator:
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill(message)
    page.get_by_role("button", name="Send").click()
    return page.get_by_role("article", name="Coach").last


def _stored_reply(stack: Stack, account: Account, page: Page) -> dict[str, object]:
    conversation_id = page.url.rsplit("/", 1)[1]
    stored = stored_conversation(stack, account, conversation_id)
    replies = [m for m in stored["messages"] if m["role"] == "assistant"]  # type: ignore[attr-defined]
    return dict(replies[-1])


def test_a_silent_coach_times_out_and_retry_works_once_it_answers(page: Page, sim: Sim) -> None:
    sign_up(page)
    sim.mode(mode="hang")
    reply = _ask(page, "Are you there?")
    # No byte for CLIENT_STREAM_IDLE_TIMEOUT_SECONDS (3 s here, 135 s by default).
    expect(reply).to_contain_text("The coach is not answering", timeout=10_000)
    expect(reply).to_have_attribute("data-state", "stalled")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    sim.mode(mode="normal")
    reply.get_by_role("button", name="Retry").click()
    expect(reply).to_have_attribute("data-state", "done")
    expect(reply.locator(".text")).to_have_text(SOME_WORDS)
    expect(reply.get_by_role("button", name="Retry")).to_have_count(0)
    expect(reply).not_to_contain_text("not answering")


def test_a_coach_killed_mid_reply_is_resumed_and_each_piece_shown_once(
    page: Page, web_stack: Stack, sim: Sim, page_errors: PageErrors
) -> None:
    # While the coach restarts, Caddy answers the resumes 502 (a console error each).
    page_errors.allow(r"status of 50[234] .*/v1/coach/")
    page_errors.allow(r"net::ERR_")
    account = sign_up(page)
    # A first reply, so that the notification stream has an event (reply.done) to resume after.
    first = _ask(page, "Warm-up question")
    expect(first).to_have_attribute("data-state", "done")
    sim.mode(mode="slow", first_token_ms=0, token_ms=50, tokens=600)
    page.get_by_label("Message", exact=True).fill("Tell me about tempo runs")
    page.get_by_role("button", name="Send").click()
    reply = page.get_by_role("article", name="Coach").last
    expect(reply.locator(".text")).to_have_text(SOME_WORDS)
    coach = web_stack.pid_of("-m pacer_coach")

    def resumed_notifications(request: Request) -> bool:
        return "/v1/coach/events" in request.url and "last-event-id" in request.headers

    with page.expect_request(resumed_notifications, timeout=60_000) as reconnect:
        os.kill(coach, signal.SIGKILL)
        expect(reply).to_have_attribute("data-state", "reconnecting")
        expect(reply).to_have_attribute("data-state", "done", timeout=60_000)
    assert re.fullmatch(r"\d+-\d+", reconnect.value.headers["last-event-id"])
    assert web_stack.pid_of("-m pacer_coach") != coach
    shown = reply.locator(".text").text_content()
    assert shown and SOME_WORDS.match(shown)
    stored = _stored_reply(web_stack, account, page)
    assert stored["status"] == "partial"
    assert stored["error_code"] == "interrupted"
    # Exactly once: the text before the kill plus the resume is the stored reply.
    assert stored["content"] == shown
    assert (page.locator("body").text_content() or "").count(shown) == 1
    expect(reply).to_contain_text("The coach stopped mid-reply")


def test_stop_ends_the_reply_and_it_is_stored_partial(
    page: Page, web_stack: Stack, sim: Sim
) -> None:
    account = sign_up(page)
    sim.mode(mode="slow", first_token_ms=0, token_ms=50, tokens=600)
    reply = _ask(page, "Plan my long run")
    expect(reply.locator(".text")).to_have_text(SOME_WORDS)
    page.get_by_role("button", name="Stop").click()
    expect(reply).to_have_attribute("data-state", "done", timeout=10_000)
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    shown = reply.locator(".text").text_content()
    stored = _stored_reply(web_stack, account, page)
    assert stored["status"] == "partial"
    assert stored["content"] == shown
    expect(reply.get_by_role("status")).to_have_text("You stopped this reply.")
    page.reload()
    expect(page.get_by_role("article", name="Coach").last).to_contain_text("cut short")


def test_an_error_event_shows_its_message_and_retry_sends_again(page: Page, sim: Sim) -> None:
    sign_up(page)
    # Every provider answers 529 (overloaded): the reply ends with `error`, then `done`.
    sim.mode(mode="error", status=529, retry_after_ms=0)
    reply = _ask(page, "Is my week too heavy?")
    alert = reply.get_by_role("alert")
    expect(alert).to_have_text("The AI model is busy right now; please try again in a moment.")
    expect(reply).to_have_attribute("data-state", "done")
    sim.mode(mode="normal")
    reply.get_by_role("button", name="Retry").click()
    expect(reply.locator(".text")).to_have_text(SOME_WORDS)
    expect(reply).to_have_attribute("data-state", "done")
    expect(reply.get_by_role("alert")).to_have_count(0)


def _use_up_the_quota(stack: Stack, account: Account) -> None:
    token = api_token(stack, account)
    me = httpx.get(
        f"{stack.url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    month = dt.datetime.now(dt.UTC).date().replace(day=1)

    async def spend() -> None:
        conn = await asyncpg.connect(database_url(stack.port("POSTGRES_PORT")))
        try:
            await conn.execute(
                "INSERT INTO chat_quota (user_id, month, used) VALUES ($1::uuid, $2, 50)",
                me["id"],
                month,
            )
        finally:
            await conn.close()

    # Playwright's sync API keeps an event loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, spend()).result()


def test_the_monthly_quota_says_when_it_resets(
    page: Page, web_stack: Stack, page_errors: PageErrors
) -> None:
    page_errors.allow(r"status of 429 .*/v1/coach/chat$")
    account = sign_up(page)
    _use_up_the_quota(web_stack, account)
    reply = _ask(page, "One more question")
    today = dt.datetime.now(dt.UTC).date()
    resets = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    expect(reply.get_by_role("alert")).to_contain_text("They reset on")
    expect(reply.get_by_role("alert")).to_contain_text(str(resets.year))
    expect(reply).to_have_attribute("data-state", "failed")
    # Not worth retrying as is: no Retry button.
    expect(reply.get_by_role("button", name="Retry")).to_have_count(0)
