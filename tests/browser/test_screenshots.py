"""Chat mid-stream at a phone's and a desktop's size (sign-in and home are taken by
the journey), written to .pacer/screenshots/ (git-ignored)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from fixtures.browser import DESKTOP, PHONE, Sim, screenshot, sign_up


def test_chat_mid_stream_at_both_sizes(page: Page, sim: Sim) -> None:
    sign_up(page)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("First: how was my week?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("article", name="Coach").last).to_have_attribute("data-state", "done")
    sim.mode(mode="slow", first_token_ms=0, token_ms=40, tokens=300)
    page.get_by_label("Message", exact=True).fill("And what should tomorrow look like?")
    page.get_by_role("button", name="Send").click()
    reply = page.get_by_role("article", name="Coach").last
    expect(reply.locator(".text")).to_have_text(re.compile(r"(\S+ ){25}"))
    screenshot(page, "chat-1280x800")
    page.set_viewport_size(PHONE)
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    screenshot(page, "chat-390x844")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Stop").click()
    expect(reply).to_have_attribute("data-state", "done")
