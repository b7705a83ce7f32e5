"""A reply keeps going when its conversation is left: coming back (or reloading
the page) shows it continuing, each piece of text exactly once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from fixtures.browser import Account, Sim, sign_up, stored_conversation
from fixtures.stack import Stack

SOME_WORDS = re.compile(r"(\S+ ){6}")


def _final_text_matches_the_store(page: Page, web_stack: Stack, account: Account) -> None:
    reply = page.get_by_role("article", name="Coach").last
    expect(reply).to_have_attribute("data-state", re.compile("done|complete"), timeout=30_000)
    shown = reply.locator(".text").text_content()
    assert shown
    conversation_id = page.url.rsplit("/", 1)[1]
    stored = stored_conversation(web_stack, account, conversation_id)
    assert stored["messages"][-1]["content"] == shown  # type: ignore[index]
    assert stored["messages"][-1]["status"] == "complete"  # type: ignore[index]
    assert (page.locator("body").text_content() or "").count(shown) == 1


def test_leaving_and_reopening_a_conversation_continues_its_reply(
    page: Page, web_stack: Stack, sim: Sim
) -> None:
    account = sign_up(page)
    sim.mode(mode="slow", first_token_ms=0, token_ms=30, tokens=150)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("Talk me through race week")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("article", name="Coach").last.locator(".text")).to_have_text(SOME_WORDS)
    page.get_by_role("link", name="Home", exact=True).click()
    expect(page.get_by_role("region", name="Today's briefing")).to_be_visible()
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_role("navigation", name="Conversations").get_by_role(
        "link", name="Talk me through race week"
    ).click()
    reply = page.get_by_role("article", name="Coach").last
    # Still streaming when it is shown again: the same reply, not a stored copy.
    expect(reply).to_have_attribute("data-state", "streaming")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    _final_text_matches_the_store(page, web_stack, account)


def test_a_reload_mid_reply_follows_it_from_the_start(
    page: Page, web_stack: Stack, sim: Sim
) -> None:
    account = sign_up(page)
    sim.mode(mode="slow", first_token_ms=0, token_ms=30, tokens=150)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("What about tapering?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("article", name="Coach").last.locator(".text")).to_have_text(SOME_WORDS)
    expect(page).to_have_url(re.compile(r"/coach/[0-9a-f-]{36}$"))
    page.reload()
    reply = page.get_by_role("article", name="Coach").last
    expect(reply).to_have_attribute("data-state", re.compile("reconnecting|streaming"))
    _final_text_matches_the_store(page, web_stack, account)
