"""Chat mid-stream and a session's result at a phone's and a desktop's size (sign-in
and home are taken by the journey), written to .pacer/screenshots/ (git-ignored)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from fixtures.browser import (
    DESKTOP,
    ONBOARDING_JSON,
    PHONE,
    Sim,
    axe_violations,
    say,
    screenshot,
    sign_up,
    start_session,
)


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


def test_session_result_at_both_sizes(page: Page, sim: Sim) -> None:
    """An onboarding ended with Finish (no closing reply), its result card on screen."""
    sign_up(page)
    start_session(page, "Getting to know you")
    say(page, "Berlin Marathon next September, four runs a week, an old achilles niggle")
    sim.mode(mode="normal", text=ONBOARDING_JSON)
    page.get_by_role("button", name="Finish").click()
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("heading", name="Your results")).to_be_visible(timeout=20_000)
    results.scroll_into_view_if_needed()
    screenshot(page, "session-result-1280x800")
    assert not axe_violations(page)
    page.set_viewport_size(PHONE)
    results.scroll_into_view_if_needed()
    screenshot(page, "session-result-390x844")
    assert not axe_violations(page)
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
