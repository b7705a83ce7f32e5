"""A long reply streams without blocking the page: no long task (> 50 ms) while
2,000 tokens arrive at 100 tokens/s, and the text is exactly what was stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from fixtures.browser import Sim, sign_up, stored_conversation
from fixtures.stack import Stack

TOKENS = 2000
TOKEN_MS = 10  # 100 tokens/s


@pytest.mark.timeout(180)
def test_a_long_reply_streams_with_no_long_task(page: Page, web_stack: Stack, sim: Sim) -> None:
    account = sign_up(page)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("Write me a long one")
    sim.mode(mode="slow", first_token_ms=0, token_ms=TOKEN_MS, tokens=TOKENS)
    # Only the reply is measured, not the page's start-up.
    page.evaluate("window.__longtasks.length = 0")
    page.get_by_role("button", name="Send").click()
    reply = page.get_by_role("article", name="Coach").last
    expect(reply).to_have_attribute("data-state", "done", timeout=TOKENS * TOKEN_MS * 3)
    long_tasks = page.evaluate("window.__longtasks")
    assert long_tasks == [], f"long tasks (ms) while streaming: {long_tasks}"
    shown = reply.locator(".text").text_content() or ""
    assert len(shown.split()) >= TOKENS  # a token is a word (some words carry punctuation)
    conversation_id = page.url.rsplit("/", 1)[1]
    stored = stored_conversation(web_stack, account, conversation_id)
    assert stored["messages"][-1]["content"] == shown  # type: ignore[index]
