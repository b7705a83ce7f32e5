"""Activity, plan and goal forms: saved values show on Home; a server refusal is
said next to its field."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from fixtures.browser import PageErrors, sign_up


def test_activity_plan_and_goal_show_on_home(page: Page, page_errors: PageErrors) -> None:
    page_errors.allow(r"status of 422 .*/v1/plan$")
    sign_up(page)
    page.get_by_role("link", name="Log an activity").click()
    page.get_by_label("Sport").select_option("run")
    # A minute ago, in the browser's time zone (the machine's, as for this process).
    started = dt.datetime.now() - dt.timedelta(minutes=1)
    page.get_by_label("Started at").fill(started.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Duration (minutes)").fill("50")
    page.get_by_label("Distance (km)").fill("10")
    page.get_by_role("button", name="Save activity").click()
    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()

    page.get_by_role("link", name="Set a plan").click()
    page.get_by_label("Plan name").fill("Spring marathon")
    page.get_by_label("Start date").fill("2026-12-01")
    page.get_by_label("End date").fill("2026-11-01")
    page.get_by_role("button", name="Save plan").click()
    end = page.get_by_label("End date")
    expect(end).to_have_attribute("aria-invalid", "true")
    expect(end).to_have_accessible_description(re.compile(r"\S"))
    end.fill("2027-04-01")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("region", name="Plan")).to_contain_text(
        "Spring marathon: 4 sessions a week"
    )

    page.get_by_role("link", name="Set a race goal").click()
    page.get_by_label("Race name").fill("City Marathon")
    page.get_by_label("Race date").fill("2027-04-12")
    page.get_by_label("Distance (km)").fill("42.195")
    page.get_by_label("Target time").fill("3:30:00")
    page.get_by_role("button", name="Save goal").click()
    expect(page.get_by_role("region", name="Next race")).to_contain_text(
        "City Marathon, 2027-04-12"
    )
    expect(page.get_by_role("region", name="This week")).to_contain_text(
        "1 session, 10.0 km, 50 min"
    )


def test_home_says_one_session_and_one_day_in_the_singular(
    page: Page, page_errors: PageErrors
) -> None:
    sign_up(page)
    page.get_by_role("link", name="Set a plan").click()
    page.get_by_label("Plan name").fill("Base")
    page.get_by_label("Sessions per week").fill("1")
    page.get_by_label("Start date").fill("2026-12-01")
    page.get_by_label("End date").fill("2027-04-01")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("region", name="Plan")).to_contain_text("Base: 1 session a week")

    # Tomorrow by the server's calendar (UTC).
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    page.get_by_role("link", name="Set a race goal").click()
    page.get_by_label("Race name").fill("Parkrun")
    page.get_by_label("Race date").fill(tomorrow.isoformat())
    page.get_by_label("Distance (km)").fill("5")
    page.get_by_label("Target time").fill("0:25:00")
    page.get_by_role("button", name="Save goal").click()
    expect(page.get_by_role("region", name="Next race")).to_contain_text("(5.0 km), in 1 day")
