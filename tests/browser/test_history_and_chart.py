"""Home's chart of the last 12 weeks and the History screen, with data logged
through the API in several weeks: the figures on screen and in the text
alternative, paging, edits and deletes, axe, 360 px, the keyboard alone, and
screenshots of Home with the chart."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from fixtures.browser import (
    DESKTOP,
    PHONE,
    Account,
    PageErrors,
    api_token,
    axe_violations,
    screenshot,
    sign_up,
)
from fixtures.stack import Stack


def _monday(weeks_ago: int = 0) -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=today.weekday(), weeks=weeks_ago)


def _started(weeks_ago: int, days: int = 0, hour: int = 7) -> str:
    """An instant in the given week, never in the future."""
    at = dt.datetime.combine(_monday(weeks_ago) + dt.timedelta(days=days), dt.time(hour), dt.UTC)
    return min(at, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()


class Api:
    """The athlete's API, behind the page's back."""

    def __init__(self, stack: Stack, account: Account) -> None:
        self.http = httpx.Client(
            base_url=stack.url,
            headers={"Authorization": f"Bearer {api_token(stack, account)}"},
            timeout=10,
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.is_success, response.text
        return dict(response.json())

    def activity(self, started_at: str, minutes: int, km: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sport": "run",
            "started_at": started_at,
            "duration_s": minutes * 60,
        }
        if km is not None:
            body["distance_m"] = km * 1000
        return self.post("/v1/activities", body)

    def items(self, path: str) -> list[dict[str, Any]]:
        response = self.http.get(path, params={"limit": 100})
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


Connect = Callable[[Account], Api]


@pytest.fixture
def connect(web_stack: Stack) -> Iterator[Connect]:
    """An Api for an account; closed when the test ends."""
    opened: list[Api] = []

    def open_for(account: Account) -> Api:
        opened.append(Api(web_stack, account))
        return opened[-1]

    yield open_for
    for api in opened:
        api.http.close()


def _no_sideways_scroll(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{what}: {width} px wide"


def _tab_to(page: Page, target: Locator, most: int = 40) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("(el) => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_the_chart_shows_each_week_and_its_text_alternative_carries_the_figures(
    page: Page, connect: Connect
) -> None:
    api = connect(sign_up(page))
    api.activity(_started(0), 30, 5)
    api.activity(_started(0, hour=6), 60, 10)
    api.activity(_started(2, days=3), 120, 21.1)
    api.activity(_started(5, days=6, hour=20), 45, 8)
    api.activity(_started(12), 300, 50)  # the 13th week back: not on the chart
    api.post(
        "/v1/checkins", {"date": _monday(2).isoformat(), "sleep_hours": 7, "soreness": 2, "mood": 4}
    )
    page.goto("/")

    chart = page.get_by_role("region", name="Last 12 weeks")
    bars = chart.get_by_role("img", name="Weekly distance, last 12 weeks")
    expect(bars).to_be_visible()
    expect(bars).to_have_accessible_description(
        "This week (the dark bar): 15.0 km in 2 sessions. Average over 12 weeks: 3.7 km a week."
    )
    expected_km = {0: "15.000", 2: "21.100", 5: "8.000"}
    rects = bars.locator("rect")
    expect(rects).to_have_count(12)
    for ago in range(12):
        rect = bars.locator(f'rect[data-week="{_monday(ago).isoformat()}"]')
        expect(rect).to_have_attribute("data-value", expected_km.get(ago, "0.000"))
    expect(rects.last).to_have_class("bar current")
    # The tallest week fills the plot; the others are in proportion.
    heights = {
        ago: float(
            bars.locator(f'rect[data-week="{_monday(ago).isoformat()}"]').get_attribute("height")
            or 0
        )
        for ago in expected_km
    }
    assert heights[2] > heights[0] > heights[5] > 0
    assert abs(heights[0] / heights[2] - 15 / 21.1) < 0.01

    # The table is for screen readers: not seen, but in the accessibility tree.
    table = chart.get_by_role("table", name="Training by week, last 12 weeks")
    expect(table.get_by_role("row")).to_have_count(13)
    this_week = table.get_by_role("row").last
    expect(this_week.get_by_role("rowheader")).to_have_text(re.compile(r"\(this week\)$"))
    expect(this_week.get_by_role("cell")).to_have_text(["2", "15.0 km", "1 h 30 min", "None"])
    week_two = table.locator(f'tr[data-week="{_monday(2).isoformat()}"]')
    expect(week_two.get_by_role("cell")).to_have_text(
        ["1", "21.1 km", "2 h 00 min", "1: sleep 7 h, soreness 2/5, mood 4/5"]
    )
    expect(
        table.locator(f'tr[data-week="{_monday(1).isoformat()}"]').get_by_role("cell")
    ).to_have_text(["0", "0.0 km", "0 min", "None"])
    box = table.locator("xpath=..").bounding_box()
    assert box is not None and box["width"] <= 1 and box["height"] <= 1

    # Home's own tile counts the same week.
    expect(page.get_by_role("region", name="This week")).to_contain_text(
        "2 sessions, 15.0 km, 1 h 30 min"
    )
    assert not axe_violations(page)
    screenshot(page, "home-chart-1280x800")

    chart.get_by_role("button", name="Time").click()
    expect(chart.get_by_role("button", name="Time")).to_have_attribute("aria-pressed", "true")
    expect(chart.get_by_role("button", name="Distance")).to_have_attribute("aria-pressed", "false")
    timed = chart.get_by_role("img", name="Weekly time, last 12 weeks")
    expect(timed.locator("rect").last).to_have_attribute("data-value", "1.500")
    expect(timed.locator(f'rect[data-week="{_monday(2).isoformat()}"]')).to_have_attribute(
        "data-value", "2.000"
    )
    expect(timed).to_have_accessible_description(
        re.compile(r"^This week \(the dark bar\): 1 h 30 min in 2 sessions\.")
    )
    chart.get_by_role("button", name="Distance").click()

    page.set_viewport_size(PHONE)
    expect(bars).to_be_visible()
    assert not axe_violations(page)
    screenshot(page, "home-chart-390x844")
    page.set_viewport_size({"width": 360, "height": 740})
    _no_sideways_scroll(page, "Home with the chart")


def test_a_new_account_s_chart_and_history_are_empty_and_point_to_logging(page: Page) -> None:
    sign_up(page)
    chart = page.get_by_role("region", name="Last 12 weeks")
    expect(chart).to_contain_text("No activities in the last 12 weeks yet")
    expect(chart.locator("rect")).to_have_count(12)
    page.get_by_role("link", name="History", exact=True).click()
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="History", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    checkins = page.get_by_role("region", name="Check-ins")
    expect(checkins).to_contain_text("No check-ins yet.")
    expect(checkins.get_by_role("link", name="Check in for the first time")).to_be_visible()
    assert not axe_violations(page)
    page.get_by_role("region", name="Activities").get_by_role(
        "link", name="Log your first activity"
    ).click()
    expect(page.get_by_role("heading", name="Log an activity")).to_be_visible()


def test_history_pages_edits_and_deletes(
    page: Page, connect: Connect, page_errors: PageErrors
) -> None:
    page_errors.allow(r"status of 422 .*/v1/activities/[0-9a-f-]{36}$")
    api = connect(sign_up(page))
    # Twelve activities a day apart, the newest yesterday: two pages of ten.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    made = [
        api.activity((now - dt.timedelta(days=n, hours=2)).isoformat(), 30 + n, 5 + n)
        for n in range(1, 13)
    ]
    for n in range(1, 4):
        day = (now.date() - dt.timedelta(days=n)).isoformat()
        api.post("/v1/checkins", {"date": day, "sleep_hours": 6 + n, "soreness": 2, "mood": 3})

    page.get_by_role("link", name="History", exact=True).click()
    activities = page.get_by_role("region", name="Activities")
    items = activities.get_by_role("listitem")
    expect(items).to_have_count(10)
    expect(items.first).to_contain_text("6.0 km")  # the newest first
    expect(items.last).to_contain_text("15.0 km")
    older = activities.get_by_role("button", name="Show older activities")
    older.click()
    expect(items).to_have_count(12)
    expect(items.last).to_contain_text("17.0 km")
    expect(older).to_be_hidden()
    checkins = page.get_by_role("region", name="Check-ins")
    expect(checkins.get_by_role("listitem")).to_have_count(3)
    expect(checkins.get_by_role("listitem").first).to_contain_text("slept 7 h")
    assert not axe_violations(page)
    screenshot(page, "history-1280x800")

    # Edit the newest activity: a bad value is said by its field, then it saves.
    newest = items.first
    newest.get_by_role("button", name=re.compile(r"^Edit Run")).click()
    form = activities.get_by_role("form")
    expect(form.get_by_label("Distance (km)")).to_have_value("6")
    expect(form.get_by_label("Duration (minutes)")).to_have_value("31")
    form.get_by_label("Duration (minutes)").fill("")
    form.get_by_role("button", name="Save changes").click()
    expect(form.get_by_label("Duration (minutes)")).to_have_attribute("aria-invalid", "true")
    assert not axe_violations(page)
    form.get_by_label("Duration (minutes)").fill("42")
    form.get_by_label("Distance (km)").fill("12.5")
    form.get_by_label("Note").fill("tempo, felt good")
    form.get_by_role("button", name="Save changes").click()
    expect(newest).to_contain_text("12.5 km")
    expect(newest).to_contain_text("42 min")
    expect(newest).to_contain_text("tempo, felt good")
    stored = {item["id"]: item for item in api.items("/v1/activities")}
    assert stored[made[0]["id"]]["distance_m"] == 12500.0
    assert stored[made[0]["id"]]["duration_s"] == 42 * 60
    assert stored[made[0]["id"]]["started_at"] == made[0]["started_at"]

    # Edit a check-in (its date stays).
    first_checkin = checkins.get_by_role("listitem").first
    first_checkin.get_by_role("button", name=re.compile(r"^Edit Check-in")).click()
    checkins.get_by_label("Mood").select_option("5")
    checkins.get_by_role("button", name="Save changes").click()
    expect(first_checkin).to_contain_text("mood 5/5")
    assert api.items("/v1/checkins")[0]["mood"] == 5
    expect(first_checkin.get_by_role("button", name="Delete")).to_have_count(0)

    # Delete the second activity: asked first, Cancel keeps it.
    second = items.nth(1)
    second_id = second.get_attribute("data-id")
    second.get_by_role("button", name=re.compile(r"^Delete Run")).click()
    second.get_by_role("button", name="Cancel").click()
    expect(items).to_have_count(12)
    second.get_by_role("button", name=re.compile(r"^Delete Run")).click()
    assert not axe_violations(page)
    second.get_by_role("button", name="Delete", exact=True).click()
    expect(items).to_have_count(11)
    assert second_id not in {item["id"] for item in api.items("/v1/activities")}
    assert len(api.items("/v1/activities")) == 11

    page.set_viewport_size({"width": 360, "height": 740})
    _no_sideways_scroll(page, "History")
    items.first.get_by_role("button", name=re.compile(r"^Edit Run")).click()
    expect(activities.get_by_role("form")).to_be_visible()
    _no_sideways_scroll(page, "History with an edit open")
    screenshot(page, "history-edit-360x740")
    page.set_viewport_size(DESKTOP)


def test_history_pages_past_activities_that_start_at_the_same_instant(
    page: Page, connect: Connect
) -> None:
    """Twelve activities with one start: the second page holds the last two, each once
    (paging by the start alone skipped every one that shared the first page's last)."""
    api = connect(sign_up(page))
    started_at = _started(weeks_ago=1)
    made = {api.activity(started_at, 30 + n)["id"] for n in range(12)}

    page.get_by_role("link", name="History", exact=True).click()
    activities = page.get_by_role("region", name="Activities")
    items = activities.get_by_role("listitem")
    expect(items).to_have_count(10)
    older = activities.get_by_role("button", name="Show older activities")
    older.click()
    expect(older).to_be_hidden()
    expect(items).to_have_count(12)
    shown = [items.nth(n).get_attribute("data-id") for n in range(12)]
    assert sorted(str(shown_id) for shown_id in shown) == sorted(made)


def test_history_with_the_keyboard_only(page: Page, connect: Connect) -> None:
    api = connect(sign_up(page))
    made = api.activity(_started(1, days=2), 40, 8)
    _tab_to(page, page.get_by_role("link", name="History", exact=True))
    page.keyboard.press("Enter")
    edit = page.get_by_role("button", name=re.compile(r"^Edit Run"))
    expect(edit).to_be_visible()
    _tab_to(page, edit)
    page.keyboard.press("Enter")
    # The form opens with the focus in its first field.
    expect(page.get_by_label("Sport")).to_be_focused()
    _tab_to(page, page.get_by_label("Distance (km)"))
    page.keyboard.press("Control+a")
    page.keyboard.type("9.5")
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("region", name="Activities").get_by_role("listitem").first
    ).to_contain_text("9.5 km")
    # Focus comes back to the item's Edit button.
    expect(edit).to_be_focused()
    assert api.items("/v1/activities")[0]["distance_m"] == 9500.0
    assert api.items("/v1/activities")[0]["id"] == made["id"]
    _tab_to(page, page.get_by_role("button", name=re.compile(r"^Delete Run")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("region", name="Activities")).to_contain_text("No activities yet.")
    assert api.items("/v1/activities") == []
