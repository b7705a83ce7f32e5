"""Register and sign in: the server's validation errors next to their fields, a
wrong password, and the login throttle's 429 with when to try again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from fixtures.browser import PageErrors, new_email, sign_up


def test_validation_errors_appear_next_to_their_fields(page: Page, page_errors: PageErrors) -> None:
    page_errors.allow(r"status of 422 .*/v1/auth/register$")
    page_errors.allow(r"status of 409 .*/v1/auth/register$")
    page.goto("/register")
    page.get_by_label("Name", exact=True).fill("Ada")
    page.get_by_label("Email", exact=True).fill(new_email())
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create account").click()
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(re.compile("at least 10 characters"))
    expect(page.get_by_label("Email", exact=True)).not_to_have_attribute("aria-invalid", "true")

    # An email already registered: said next to Email.
    taken = sign_up(page)
    page.get_by_role("button", name="Sign out").click()
    page.goto("/register")
    page.get_by_label("Name", exact=True).fill("Ada Again")
    page.get_by_label("Email", exact=True).fill(taken.email)
    page.get_by_label("Password", exact=True).fill("long enough password")
    page.get_by_role("button", name="Create account").click()
    email = page.get_by_label("Email", exact=True)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile("already exists"))


def test_a_wrong_password_then_the_throttle_says_when_to_retry(
    page: Page, page_errors: PageErrors
) -> None:
    page_errors.allow(r"status of 401 .*/v1/auth/login$")
    page_errors.allow(r"status of 429 .*/v1/auth/login$")
    account = sign_up(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email", exact=True).fill(account.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    alert = page.get_by_role("alert")
    # LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP (5) failures from one address, then 429 with Retry-After.
    for _ in range(5):
        page.get_by_role("button", name="Sign in").click()
        expect(alert).to_have_text("Wrong email or password.")
        expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text(
        re.compile(r"Too many attempts\. You can try again in \d+ min \(at \d")
    )
