"""A person's first session: create an account, check in, watch the briefing
arrive without reloading, ask the coach, reload, sign out and in again."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from fixtures.browser import DESKTOP, PHONE, Sim, screenshot, sign_up, stored_conversation
from fixtures.stack import Stack


def test_the_journey(page: Page, web_stack: Stack, sim: Sim) -> None:
    account = sign_up(page)
    # Set on the page's window: a reload would lose it.
    page.evaluate("window.__sameDocument = true")
    # The worker's LLM call takes a moment, so that `pending` is there to be seen.
    sim.mode(mode="slow", first_token_ms=2500, token_ms=5, tokens=30)
    page.get_by_role("link", name="Check in").click()
    page.get_by_label("Sleep (hours)").fill("8")
    page.get_by_label("Soreness").select_option("2")
    page.get_by_role("button", name="Save check-in").click()

    briefing = page.get_by_role("region", name="Today's briefing")
    status = briefing.locator("[data-status]")
    expect(status).to_have_attribute("data-status", "pending")
    expect(briefing).to_contain_text("Being prepared")
    expect(page.get_by_role("region", name="Last check-in")).to_contain_text("slept 8 h")
    # briefing.ready arrives on the notification stream: the region updates in place.
    expect(status).to_have_attribute("data-status", "fresh", timeout=30_000)
    expect(briefing).to_contain_text("Up to date")
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "home-1280x800")
    page.set_viewport_size(PHONE)
    screenshot(page, "home-390x844")
    page.set_viewport_size(DESKTOP)

    sim.mode(mode="slow", first_token_ms=0, token_ms=20, tokens=40)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("How should I run this week?")
    page.get_by_role("button", name="Send").click()
    reply = page.get_by_role("article", name="Coach").last
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(reply).to_have_attribute("data-state", "done")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    shown = reply.locator(".text").text_content()
    assert shown
    conversation_id = page.url.rsplit("/", 1)[1]
    stored = stored_conversation(web_stack, account, conversation_id)
    (assistant,) = [m for m in stored["messages"] if m["role"] == "assistant"]  # type: ignore[attr-defined]
    assert assistant["content"] == shown
    assert assistant["status"] == "complete"
    expect(page.get_by_role("navigation", name="Conversations")).to_contain_text(
        "How should I run this week?"
    )

    page.reload()
    expect(page.get_by_role("article", name="You")).to_have_text("How should I run this week?")
    expect(page.get_by_role("article", name="Coach").locator(".text")).to_have_text(shown)
    assert page.content().count(shown.strip()) == 1

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(page, "signin-1280x800")
    page.set_viewport_size(PHONE)
    screenshot(page, "signin-390x844")
    page.set_viewport_size(DESKTOP)
    page.get_by_label("Email", exact=True).fill(account.email)
    page.get_by_label("Password", exact=True).fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()
    # Signed out, a reload has no session to pick up.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
