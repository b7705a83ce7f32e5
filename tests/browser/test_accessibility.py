"""axe-core (vendored, tests/browser/vendor/) finds no serious or critical
violation on any screen, and each screen is reached with the keyboard's names."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from fixtures.browser import PHONE, PageErrors, sign_up

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
BLOCKING = ("serious", "critical")


def _violations(page: Page) -> list[str]:
    # page.evaluate runs over CDP: the page's own CSP still holds for the client.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.map((v) => ({id: v.id, impact: v.impact,
            targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 3)}));
        }"""
    )
    return [f"{v['id']} ({v['impact']}): {v['targets']}" for v in found if v["impact"] in BLOCKING]


def _check(page: Page, screen: str, problems: dict[str, list[str]]) -> None:
    found = _violations(page)
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
    assert not problems, problems
