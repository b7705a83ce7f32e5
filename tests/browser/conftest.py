"""The browser client in Debian's chromium, driven by Playwright, against `make run`'s
real stack through Caddy (one stack for the whole folder).

Every test fails on a console error, an uncaught exception or a CSP violation,
except the failed requests it declares with ``page_errors.allow(pattern)``
(Chromium logs every 4xx/5xx answer to fetch as a console error). Without a
chromium on PATH (tools/ensure-tools.sh installs it) every test skips, saying so.

The stack, Playwright and the browser are package-scoped (this folder has an
``__init__.py`` for that): they stop when the folder's last test ends, so that
the rest of the suite neither shares its CPU with an idle stack nor finds
Playwright's event loop still running in the main thread (which breaks every
async test after it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from fixtures.browser import DESKTOP, TOOL_TIMEOUT_S, PageErrors, Sim
from fixtures.stack import Stack, start_stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Short enough for the idle-timeout test, long enough for a coach restart's resume.
IDLE_TIMEOUT_S = 3

# Injected before any page script (over CDP, so the page's CSP does not apply to
# it): CSP violations become console errors, and long tasks are recorded.
WATCHERS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
});
window.__longtasks = [];
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longtasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
} catch (e) {}
"""


@pytest.fixture(scope="package")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip(
            "chromium is not installed; make test-tools installs Debian's package when apt is usable"
        )
    return CHROMIUM


@pytest.fixture(scope="package")
def web_stack(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("web-stack") / "data",
        {
            "CLIENT_STREAM_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_S),
            # The streaming-performance test's reply is 2,000 tokens (800 by default).
            "COACH_MAX_REPLY_TOKENS": "2000",
            "FUNCTION_TIMEOUT_SECONDS": str(TOOL_TIMEOUT_S),
            # A failed extraction's retries (3 attempts) take seconds, not minutes.
            "JOB_RETRY_BACKOFF_SECONDS": "1",
            "JOB_RETRY_BACKOFF_MAX_SECONDS": "2",
        },
    )
    yield running
    running.stop()
    assert not running.pids(), f"left behind: {running.pids()}"


@pytest.fixture(scope="package")
def playwright(chromium: str) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    # As root (CI, this machine) chromium cannot use its sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright.chromium.launch(executable_path=chromium, args=args)
    yield launched
    launched.close()


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def sim(web_stack: Stack) -> Iterator[Sim]:
    simulator = Sim(f"http://127.0.0.1:{web_stack.port('LLM_SIM_PORT')}")
    simulator.mode(mode="normal")
    yield simulator
    simulator.mode(mode="normal")


@pytest.fixture
def page(browser: Browser, web_stack: Stack, page_errors: PageErrors, sim: Sim) -> Iterator[Page]:
    context = browser.new_context(base_url=web_stack.url, viewport=DESKTOP)
    context.add_init_script(WATCHERS)
    opened = context.new_page()
    page_errors.watch(opened)
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    unexpected = page_errors.unexpected()
    assert not unexpected, f"console errors or CSP violations: {unexpected}"
