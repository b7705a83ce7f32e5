"""axe-core (vendored, tests/browser/vendor/) finds no serious or critical
violation on any screen, and each screen is reached with the keyboard's names."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from fixtures.browser import PHONE, PageErrors, axe_violations, sign_up


def _check(page: Page, screen: str, problems: dict[str, list[str]]) -> None:
    found = axe_violations(page)
    if found:
        problems[screen] = found


def test_no_serious_or_critical_violation_on_any_screen(
    page: Page, page_errors: PageErrors
) -> None:
    page_errors.allow(r"status of 422 .*/v1/auth/register$")
    problems: dict[str, list[str]] = {}
    page.goto("/signin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    _check(page, "sign-in", problems)
    page.goto("/register")
    expect(page.get_by_role("button", name="Create account")).to_be_visible()
    page.get_by_role("button", name="Create account").click()  # empty: errors by the fields
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    _check(page, "register with errors", problems)
    sign_up(page)
    expect(page.get_by_role("region", name="Today's briefing")).to_contain_text("—")
    _check(page, "home", problems)
    for link, heading in [
        ("Check in", "Daily check-in"),
        ("Log an activity", "Log an activity"),
        ("Set a plan", "Training plan"),
        ("Set a race goal", "Race goal"),
    ]:
        page.get_by_role("link", name="Home", exact=True).click()
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        _check(page, heading, problems)
    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("Hello coach")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("article", name="Coach").last).to_have_attribute("data-state", "done")
    _check(page, "coach", problems)
    page.set_viewport_size(PHONE)
    _check(page, "coach at 390 px", problems)
    page.get_by_role("link", name="Sessions", exact=True).click()
    expect(page.get_by_role("heading", name="Coaching sessions")).to_be_visible()
    _check(page, "sessions", problems)
    page.get_by_role("button", name="Getting to know you", exact=True).click()
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    _check(page, "a session", problems)
    assert not problems, problems
