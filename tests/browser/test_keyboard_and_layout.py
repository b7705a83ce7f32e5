"""The keyboard alone is enough, and a 360 px phone never scrolls sideways."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from fixtures.browser import sign_up


def _tab_to(page: Page, target: Locator, most: int = 15) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("(el) => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_sign_in_and_chat_with_the_keyboard_only(page: Page) -> None:
    account = sign_up(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    _tab_to(page, page.get_by_label("Email", exact=True))
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()
    _tab_to(page, page.get_by_role("link", name="Coach", exact=True))
    page.keyboard.press("Enter")
    _tab_to(page, page.get_by_label("Message", exact=True))
    page.keyboard.type("Keyboard only today")
    page.keyboard.press("Control+Enter")
    reply = page.get_by_role("article", name="Coach").last
    expect(reply).to_have_attribute("data-state", "done")
    _tab_to(page, page.get_by_role("button", name="Send"))


def test_nothing_scrolls_sideways_at_360_px(page: Page) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    sign_up(page)
    for link, ready in [
        ("Home", page.get_by_role("region", name="Today's briefing")),
        ("Coach", page.get_by_label("Message", exact=True)),
        ("Sessions", page.get_by_role("heading", name="Coaching sessions")),
    ]:
        page.get_by_role("link", name=link, exact=True).click()
        expect(ready).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{link}: {width} px wide"
