"""Coaching sessions in the browser: an onboarding from its first message to a
race goal, and a failed extraction that Retry recovers. The simulator plays the
model: `end_session` makes the next reply the closing one, and `text` is what
the extraction gets back."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import Page, Route, expect

from fixtures.browser import ONBOARDING_JSON, Sim, api_token, say, sign_up, start_session
from fixtures.stack import Stack


def test_an_onboarding_ends_in_a_result_card_that_becomes_the_race_goal(
    page: Page, sim: Sim, web_stack: Stack
) -> None:
    account = sign_up(page)
    start_session(page, "Getting to know you")
    say(page, "Berlin Marathon next September, four runs a week")
    sim.mode(mode="normal", end_session=True)
    say(page, "That is all from me")
    # The closing reply's `done` has is_final: the client asks for the result on its own.
    extracting = page.get_by_role("status").filter(has_text="Extracting your results…")
    expect(extracting).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_be_hidden()
    # Whichever attempt read the closing mode failed; the next one gets valid JSON.
    sim.mode(mode="normal", text=ONBOARDING_JSON)
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("heading", name="Your results")).to_be_visible(timeout=20_000)
    for shown in ("Berlin Marathon", "42.2 km", "3 h 30 min", "left achilles, 2025"):
        expect(results).to_contain_text(shown)
    expect(results).to_contain_text(re.compile(r"September 26, 2027|26 September 2027"))
    expect(page.get_by_text("Completed", exact=True)).to_be_visible()

    results.get_by_role("button", name="Use as my race goal").click()
    confirm = page.get_by_role("group", name="Confirm race goal")
    expect(confirm).to_contain_text("Berlin Marathon")
    save = confirm.get_by_role("button", name="Save as my race goal")
    expect(save).to_be_focused()
    page.keyboard.press("Enter")
    expect(results.get_by_role("status")).to_have_text(re.compile("Saved as your race goal"))

    token = api_token(web_stack, account)
    goal = httpx.get(
        f"{web_stack.url}/v1/goal", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert goal.status_code == 200, goal.text
    body = goal.json()
    assert body["race_name"] == "Berlin Marathon"
    assert body["race_date"] == "2027-09-26"
    assert body["distance_m"] == 42195
    assert body["target_time_s"] == 12600
    page.get_by_role("link", name="All sessions").click()
    listed = page.get_by_role("listitem").filter(has_text="Getting to know you")
    expect(listed).to_contain_text("Completed")


def test_a_failed_extraction_says_so_and_retry_gets_the_result(page: Page, sim: Sim) -> None:
    sign_up(page)
    start_session(page, "Race debrief")
    say(page, "Valencia went well until 35 km")
    sim.mode(mode="normal", text="Sure! Here is a summary of your race, not JSON.")
    page.get_by_role("button", name="Finish").click()
    problem = page.get_by_role("alert").filter(has_text="could not be extracted")
    # Three attempts with the stack's short backoff (1 s, then 2 s).
    expect(problem).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Results failed", exact=True)).to_be_visible()
    result = {
        "race_name": "Valencia Marathon",
        "finish_time_s": 11100,
        "effort": 8,
        "went_well": ["even pacing to 35 km"],
        "to_improve": ["fuelling after 30 km"],
    }
    sim.mode(mode="normal", text=json.dumps(result))
    page.get_by_role("button", name="Retry").focus()
    page.keyboard.press("Enter")
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("heading", name="Your results")).to_be_visible(timeout=20_000)
    for shown in ("Valencia Marathon", "3 h 05 min", "8 / 10", "fuelling after 30 km"):
        expect(results).to_contain_text(shown)
    expect(results.get_by_role("button", name="Use as my race goal")).to_have_count(0)
    # Retry went away with the failure; focus stayed in the results, not lost to the body.
    assert page.evaluate("document.activeElement.closest('[aria-label=Results]') !== null")
    # The failure was said once, on this screen: no "job failed" toast beside it.
    expect(page.get_by_role("status").filter(has_text="could not be")).to_have_count(0)


def test_a_202_is_followed_to_the_result(page: Page, sim: Sim) -> None:
    """`complete` answered 202 (no inline wait): the notification, or polling the
    session at Retry-After, brings the result without a reload."""
    answers: list[int] = []

    def no_inline_wait(route: Route) -> None:
        route.continue_(headers={**route.request.headers, "prefer": "wait=0"})

    page.route(re.compile(r".*/v1/coach/sessions/[^/]+/complete$"), no_inline_wait)
    page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/complete") else None)
    sign_up(page)
    start_session(page, "Getting to know you")
    say(page, "Berlin in September")
    sim.mode(mode="slow", first_token_ms=1500, token_ms=0, text=ONBOARDING_JSON)
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_role("status").filter(has_text="Extracting your results…")).to_be_visible()
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("heading", name="Your results")).to_be_visible(timeout=20_000)
    expect(results).to_contain_text("Berlin Marathon")
    assert answers == [202]
