"""The composer's message limit is the server's (GET /v1/client-config), not a
number of the client's own."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Route, expect

from fixtures.browser import sign_up


def test_the_composer_stops_at_the_limit_client_config_gives(page: Page) -> None:
    served = {}

    def shorter_limit(route: Route) -> None:
        answer = route.fetch()
        served.update(answer.json())
        route.fulfill(response=answer, body=json.dumps({**served, "message_max_chars": 12}))

    page.route("**/v1/client-config", shorter_limit)
    sign_up(page)
    assert served["message_max_chars"] == 4000  # the server's default, COACH_MESSAGE_MAX_CHARS
    page.get_by_role("link", name="Coach", exact=True).click()
    message = page.get_by_label("Message", exact=True)
    expect(message).to_have_attribute("maxlength", "12")
    message.press_sequentially("Fourteen chars")
    expect(message).to_have_value("Fourteen cha")
