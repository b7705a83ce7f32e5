"""The coach's tools in the browser: a tool step as a quiet line in the reply, a
proposal as a card with Apply / Dismiss whose result replaces it, a failing or
stuck tool as an error line in a reply that still finishes, and cards that a
reload puts back as they stand. The simulator plays the model: its `tool_calls`
mode makes the next completion call the tools; the coach runs them for real."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
from playwright.sync_api import Locator, Page, expect

from fixtures.browser import (
    DESKTOP,
    PHONE,
    TOOL_TIMEOUT_S,
    Account,
    PageErrors,
    Sim,
    api_token,
    axe_violations,
    screenshot,
    sign_up,
)
from fixtures.stack import Stack
from pacer_devstack.postgres import database_url

# A run "this morning": three hours ago, so that it is never in the future.
STARTED = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(microsecond=0)
A_RUN: dict[str, object] = {
    "sport": "run",
    "started_at": STARTED.isoformat(),
    "duration_s": 3120,
    "distance_m": 10000,
    "note": "felt heavy",
}
LOCK_WAIT_S = 30


def _ask(page: Page, message: str) -> Locator:
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill(message)
    page.get_by_role("button", name="Send").click()
    return page.get_by_role("article", name="Coach").last


def _propose_a_run(page: Page, sim: Sim) -> Locator:
    """A chat message that the coach answers with a proposal card for A_RUN."""
    sim.mode(mode="normal", tool_calls=[{"name": "propose_activity", "arguments": A_RUN}])
    reply = _ask(page, "I ran 10k this morning in 52 minutes, felt heavy")
    expect(reply).to_have_attribute("data-state", "done")
    return reply


def _card(reply: Locator) -> Locator:
    return reply.get_by_role("group", name="Log this run?")


def _api(stack: Stack, account: Account, method: str, path: str) -> httpx.Response:
    token = api_token(stack, account)
    return httpx.request(
        method, f"{stack.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _activities(stack: Stack, account: Account) -> list[dict[str, Any]]:
    response = _api(stack, account, "GET", "/v1/activities")
    response.raise_for_status()
    return list(response.json()["items"])


def _pending(stack: Stack, account: Account) -> list[dict[str, Any]]:
    response = _api(stack, account, "GET", "/v1/coach/proposals?status=pending")
    response.raise_for_status()
    return list(response.json()["items"])


@contextmanager
def _table_locked(stack: Stack, table: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on ``table`` (in its own thread and event loop:
    Playwright's sync API keeps one running in this thread) until the block ends."""
    locked = threading.Event()
    release = threading.Event()
    failed: list[BaseException] = []

    async def hold() -> None:
        conn = await asyncpg.connect(database_url(stack.port("POSTGRES_PORT")))
        try:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.to_thread(release.wait, LOCK_WAIT_S)
        finally:
            await conn.close()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as error:  # surfaced in the test's thread below
            failed.append(error)
            locked.set()

    holder = threading.Thread(target=run, daemon=True)
    holder.start()
    assert locked.wait(10), "the lock was not taken"
    assert not failed, failed
    try:
        yield
    finally:
        release.set()
        holder.join(10)
    assert not failed, failed


def test_a_run_told_in_the_simulators_default_mode_gets_a_card(page: Page, sim: Sim) -> None:
    # No tool_calls scripted: the simulator reads the run from the sentence, as in `make run`.
    sign_up(page)
    sim.mode(mode="normal")
    reply = _ask(page, "I ran 10k this morning in 52 minutes")
    expect(reply).to_have_attribute("data-state", "done")
    card = _card(reply)
    for shown in ("10.0 km", "52 min"):
        expect(card).to_contain_text(shown)
    expect(card.get_by_role("button", name="Apply", exact=True)).to_be_visible()


def test_a_read_tool_is_a_quiet_line_and_the_reply_finishes(page: Page, sim: Sim) -> None:
    sign_up(page)
    sim.mode(mode="normal", tool_calls=[{"name": "recent_activities", "arguments": {"days": 28}}])
    reply = _ask(page, "How did the last four weeks compare?")
    expect(reply).to_have_attribute("data-state", "done")
    # While it ran, it said "Looking at your last 28 days…" (the stuck tool's test
    # sees that); done, it says what it found.
    step = reply.get_by_role("listitem")
    expect(step).to_have_text("0 activities in the last 28 days")
    expect(step).to_have_attribute("data-status", "done")
    # The simulator quotes the tool's result back: the reply's text came after the tool.
    expect(reply.locator(".text")).not_to_be_empty()
    expect(reply.get_by_role("alert")).to_have_count(0)


def test_a_proposal_applied_by_a_double_click_is_stored_once(
    page: Page, sim: Sim, web_stack: Stack
) -> None:
    account = sign_up(page)
    reply = _propose_a_run(page, sim)
    card = _card(reply)
    for shown in ("10.0 km", "52 min", "felt heavy"):
        expect(card).to_contain_text(shown)
    assert _activities(web_stack, account) == []  # a proposal changes nothing
    card.get_by_role("button", name="Apply", exact=True).dblclick()
    result = reply.get_by_role("status").filter(has_text="Logged:")
    expect(result).to_have_text(re.compile(r"^Logged: run of .+ \(52 min, 10\.0 km\)\.$"))
    expect(result).to_be_focused()
    expect(reply.get_by_role("button", name="Apply")).to_have_count(0)
    stored = _activities(web_stack, account)
    assert [(a["sport"], a["duration_s"], a["note"]) for a in stored] == [
        ("run", 3120, "felt heavy")
    ]
    # A second apply (another tab, a retry) answers the same result and saves nothing.
    proposal_id = reply.locator("[data-proposal]").get_attribute("data-proposal")
    again = _api(web_stack, account, "POST", f"/v1/coach/proposals/{proposal_id}/apply")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "applied"
    assert len(_activities(web_stack, account)) == 1


def test_dismiss_replaces_the_card_and_stores_nothing(
    page: Page, sim: Sim, web_stack: Stack
) -> None:
    account = sign_up(page)
    reply = _propose_a_run(page, sim)
    _card(reply).get_by_role("button", name="Dismiss", exact=True).click()
    expect(reply.get_by_role("status").filter(has_text="Dismissed")).to_have_text("Dismissed")
    expect(_card(reply)).to_have_count(0)
    assert _activities(web_stack, account) == []
    assert _pending(web_stack, account) == []


def test_an_apply_answered_409_says_why(
    page: Page, sim: Sim, web_stack: Stack, page_errors: PageErrors
) -> None:
    page_errors.allow(r"status of 409 .*/v1/coach/proposals/.*/apply")
    account = sign_up(page)
    reply = _propose_a_run(page, sim)
    [proposal] = _pending(web_stack, account)
    # Dismissed elsewhere (another tab) while this card still offers Apply.
    dismissed = _api(web_stack, account, "POST", f"/v1/coach/proposals/{proposal['id']}/dismiss")
    assert dismissed.status_code == 200, dismissed.text
    _card(reply).get_by_role("button", name="Apply", exact=True).click()
    expect(reply.locator(".proposal-result")).to_have_text(re.compile("dismissed", re.I))
    expect(reply.get_by_role("button", name="Apply")).to_have_count(0)
    assert _activities(web_stack, account) == []


def test_a_failing_tool_is_an_error_line_and_the_reply_still_finishes(page: Page, sim: Sim) -> None:
    sign_up(page)
    # A duration the athlete's own route refuses: a tool error the model answers from.
    bad = {**A_RUN, "duration_s": -5}
    sim.mode(mode="normal", tool_calls=[{"name": "propose_activity", "arguments": bad}])
    reply = _ask(page, "Log my run please")
    expect(reply).to_have_attribute("data-state", "done")
    step = reply.get_by_role("listitem")
    expect(step).to_have_attribute("data-status", "error")
    expect(step).to_have_text(re.compile(r"^Could not prepare the activity: invalid arguments"))
    expect(reply.get_by_role("group")).to_have_count(0)
    expect(reply.locator(".text")).not_to_be_empty()


def test_a_stuck_tool_is_an_error_line_and_the_reply_still_finishes(
    page: Page, sim: Sim, web_stack: Stack
) -> None:
    sign_up(page)
    # The model takes a moment before its call: time to lock the table the tool reads
    # once the reply has started (the prompt's own read of it comes before `meta`).
    sim.mode(
        mode="slow",
        first_token_ms=1000,
        token_ms=10,
        tokens=20,
        tool_calls=[{"name": "recent_activities", "arguments": {"days": 28}}],
    )
    reply = _ask(page, "How were the last four weeks?")
    expect(reply).to_have_attribute("data-state", "streaming")
    # The tool's query waits on a real lock until its deadline (FUNCTION_TIMEOUT_SECONDS).
    with _table_locked(web_stack, "activities"):
        step = reply.get_by_role("listitem")
        expect(step).to_have_text("Looking at your last 28 days…")
        expect(step).to_have_attribute("data-status", "error", timeout=20_000)
        expect(reply).to_have_attribute("data-state", "done", timeout=20_000)
    expect(step).to_have_text(
        re.compile(rf"^Looking at your last 28 days… failed: timed out after {TOOL_TIMEOUT_S}")
    )
    expect(reply.locator(".text")).not_to_be_empty()
    expect(reply.get_by_role("alert")).to_have_count(0)


def test_a_card_survives_a_reload_and_its_result_too(
    page: Page, sim: Sim, web_stack: Stack
) -> None:
    account = sign_up(page)
    _propose_a_run(page, sim)
    page.reload()
    reply = page.get_by_role("article", name="Coach").last
    card = _card(reply)
    expect(card.get_by_role("button", name="Apply", exact=True)).to_be_enabled()
    expect(card.get_by_role("button", name="Dismiss", exact=True)).to_be_enabled()
    card.get_by_role("button", name="Apply", exact=True).click()
    expect(reply.get_by_role("status").filter(has_text="Logged:")).to_be_visible()
    page.reload()
    reply = page.get_by_role("article", name="Coach").last
    expect(reply.locator(".proposal-result")).to_have_text(re.compile(r"^Logged: run of "))
    expect(reply.get_by_role("button", name="Apply")).to_have_count(0)
    assert len(_activities(web_stack, account)) == 1


def test_tool_line_and_card_at_both_sizes(page: Page, sim: Sim) -> None:
    """The screenshots in docs/ (client-coach-tools-*.png), and axe with a card on screen."""
    sign_up(page)
    sim.mode(
        mode="normal",
        tool_calls=[
            {"name": "recent_activities", "arguments": {"days": 28}},
            {"name": "propose_activity", "arguments": A_RUN},
        ],
        # The round after the tools: words a coach would say (not the results quoted).
        text=(
            "Well done: 10 km in 52 minutes is steady work at the end of a heavy week. "
            "I have put it below for you to log. Keep tomorrow easy."
        ),
    )
    reply = _ask(page, "I ran 10k this morning in 52 minutes, felt heavy")
    expect(reply).to_have_attribute("data-state", "done")
    card = _card(reply)
    expect(card.get_by_role("button", name="Apply", exact=True)).to_be_visible()
    expect(card.get_by_role("button", name="Dismiss", exact=True)).to_be_visible()
    card.scroll_into_view_if_needed()
    screenshot(page, "coach-tools-1280x800")
    assert not axe_violations(page)
    page.set_viewport_size(PHONE)
    card.scroll_into_view_if_needed()
    screenshot(page, "coach-tools-390x844")
    assert not axe_violations(page)
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size(DESKTOP)


CLOSE_ON_DONE = """async () => {
  const { Reply } = await import("/js/reply.js");
  const reply = new Reply({ message: "hi" });
  const shown = [];
  reply.subscribe((change) => { if (change.type === "tool") shown.push(change.step); });
  const tool = { call_id: "c1", name: "recent_activities", summary: "Looking at your last 28 days…" };
  reply._onEvent({ name: "tool", data: { ...tool, status: "running" } });
  // A log that ends with no result for the call (settled from its row, an older coach).
  reply._onEvent({ name: "error", data: { code: "interrupted", message: "", retryable: false } });
  reply._onEvent({ name: "done", data: { status: "failed" } });
  return { step: reply.tools.get("c1"), shown };
}"""


def test_a_step_still_running_when_the_reply_ends_is_closed(page: Page) -> None:
    page.goto("/signin")
    result: dict[str, Any] = page.evaluate(CLOSE_ON_DONE)
    assert result["step"]["status"] == "error" and result["step"]["error"] == "interrupted"
    # The line says what it was doing, and that it failed.
    assert result["step"]["doing"] == "Looking at your last 28 days…"
    assert [step["status"] for step in result["shown"]] == ["running", "error"]
