"""fixtures.browser.PageErrors.watch, which every page of tests/browser and the containers'
browser journey are watched with: what it records, and what it lets through."""

from __future__ import annotations

from playwright.sync_api import Browser

from fixtures.browser import PageErrors

PAGE = """<!doctype html><title>errors</title><script>
console.log("fine");
console.warn("fine too");
console.error("something broke");
setTimeout(() => { throw new Error("uncaught"); });
</script>"""


def _load_watched(browser: Browser, errors: PageErrors) -> None:
    """Load PAGE in a page ``errors`` watches, until its uncaught exception is reported."""
    context = browser.new_context()
    try:
        page = context.new_page()
        errors.watch(page)
        page.set_content(PAGE)
        # A timer after the page's: its throw has been reported once this returns.
        page.evaluate("() => new Promise((done) => setTimeout(done))")
    finally:
        context.close()


def test_watch_records_console_errors_and_uncaught_exceptions(browser: Browser) -> None:
    errors = PageErrors()
    _load_watched(browser, errors)
    assert [text.split(" ")[0] for text in errors.seen] == ["something", "pageerror:"]
    assert errors.seen[1] == "pageerror: uncaught"
    assert errors.unexpected() == errors.seen


def test_allowed_patterns_are_left_out(browser: Browser) -> None:
    errors = PageErrors()
    errors.allow(r"^something broke")
    _load_watched(browser, errors)
    assert errors.unexpected() == ["pageerror: uncaught"]
