"""The journey in a real browser at the production containers' URL (issue 21's "the journey
works in a browser at that URL"), and issue 22's "a chat that mentions a run gets a proposal
card" with the simulator in its default mode: sign up, check in, watch the briefing arrive,
tell the coach about a run, apply the card twice, find the run stored once.

Chromium reads its trust from its own NSS store, not from a CA file, so this context skips
certificate checks; the chain itself is verified against Caddy's root by every HTTP test of
this folder (containers.client.https). Everything else is production's: TLS Caddy, its
headers and CSP, two core-api replicas, the coach, the worker, Postgres and Redis.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from containers.client import https, sim_reset
from fixtures.browser import DESKTOP, PASSWORD, Account, PageErrors, sign_up
from pacer_devstack.containers.stack import LocalStack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.timeout(600)


def _stored_activities(containers: LocalStack, account: Account) -> list[dict[str, Any]]:
    with https(containers) as http:
        login = http.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        listed = http.get("/v1/activities", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()["items"]
        return items


def _journey(page: Page, containers: LocalStack) -> None:
    account = sign_up(page)
    page.get_by_role("link", name="Check in").click()
    page.get_by_label("Sleep (hours)").fill("7.5")
    page.get_by_label("Soreness").select_option("2")
    page.get_by_role("button", name="Save check-in").click()
    briefing = page.get_by_role("region", name="Today's briefing")
    # briefing.ready reaches the page on the notification stream, through Caddy's TLS.
    expect(briefing.locator("[data-status]")).to_have_attribute(
        "data-status", "fresh", timeout=60_000
    )

    page.get_by_role("link", name="Coach", exact=True).click()
    page.get_by_label("Message", exact=True).fill("I ran 10k this morning in 52 minutes")
    page.get_by_role("button", name="Send").click()
    reply = page.get_by_role("article", name="Coach").last
    expect(reply).to_have_attribute("data-state", "done", timeout=60_000)
    card = reply.get_by_role("group", name="Log this run?")
    expect(card).to_contain_text("10.0 km")
    assert _stored_activities(containers, account) == []  # a proposal changes nothing
    card.get_by_role("button", name="Apply", exact=True).dblclick()
    expect(reply.get_by_role("status").filter(has_text="Logged:")).to_have_text(
        re.compile(r"^Logged: run of .+ \(52 min, 10\.0 km\)\.$")
    )
    stored = _stored_activities(containers, account)
    assert [(a["sport"], a["duration_s"], a["distance_m"]) for a in stored] == [
        ("run", 52 * 60, 10_000)
    ]


def test_the_journey_in_a_browser_through_the_production_containers(
    containers: LocalStack,
) -> None:
    if CHROMIUM is None:
        pytest.skip(
            "chromium is not installed; make test-tools installs Debian's package when apt is usable"
        )
    # The default mode: no text set, so the simulator proposes the run it is told about.
    sim_reset(containers)
    # As in tests/browser: the boot's refresh without a cookie (401) is expected, nothing else.
    errors = PageErrors()
    with sync_playwright() as driver:
        # As root (CI, this machine) chromium cannot use its sandbox.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            context = browser.new_context(
                base_url=containers.url, viewport=DESKTOP, ignore_https_errors=True
            )
            page = context.new_page()
            errors.watch(page)
            page.set_default_timeout(30_000)
            _journey(page, containers)
            context.close()
        finally:
            browser.close()
    # The production CSP and headers in force: nothing the page did was refused.
    assert errors.unexpected() == []
