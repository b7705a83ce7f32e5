"""What the client costs to load, and that it can run under the production CSP."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx

from fixtures.stack import Stack

WEB = Path(__file__).resolve().parents[2] / "web"
BUDGET_GZIP_BYTES = 60 * 1024


def test_all_js_and_css_gzipped_fit_in_60_kb() -> None:
    files = [*WEB.rglob("*.js"), *WEB.rglob("*.css")]
    assert files
    total = sum(len(gzip.compress(path.read_bytes(), compresslevel=9)) for path in files)
    print(f"client JS + CSS: {total} bytes gzipped in {len(files)} files")
    assert total <= BUDGET_GZIP_BYTES, f"{total} bytes gzipped"


def test_no_inline_script_or_style_anywhere() -> None:
    index = (WEB / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", index):
        assert "src=" in tag, tag
    assert "<style" not in index and " style=" not in index
    for path in WEB.rglob("*.js"):
        source = path.read_text()
        # No HTML parsing of data, no inline styles, no eval: the CSP would refuse
        # some, and text from the LLM must never become markup.
        for banned in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "eval(",
            "new Function",
            ".style.",
            "localStorage",
            "sessionStorage",
        ):
            assert banned not in source, f"{path.name} uses {banned}"


def test_the_proxy_serves_the_client_under_the_csp(web_stack: Stack) -> None:
    with httpx.Client(base_url=web_stack.url, timeout=10) as http:
        index = http.get("/coach/not-a-file", headers={"Accept-Encoding": "gzip"})
        assert index.status_code == 200
        assert '<script type="module" src="/js/main.js">' in index.text
        policy = index.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "connect-src 'self'" in policy
        script = http.get("/js/main.js", headers={"Accept-Encoding": "gzip"})
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers.get("content-encoding") == "gzip"
        assert http.get("/README.md").status_code == 404
