"""Nothing leaves the server: every request of every page (before and after a run, /docs included) goes to
the app itself, and /docs renders its operations from the app's own assets (issue 11 item 2)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.helpers.pages import PAGES

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", list(PAGES))
def test_no_request_leaves_the_server(server: str, browser, path: str) -> None:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(server + path)
    page.wait_for_load_state("networkidle")
    if PAGES[path]:
        PAGES[path](page)
        page.wait_for_load_state("networkidle")
    ctx.close()
    here = urlsplit(server).netloc
    outside = [u for u in requests if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != here]
    assert outside == [], outside
    assert len(requests) >= 2  # the page and at least its stylesheet or script
    if path == "/models/vgg17":  # the 404 page: the browser reports the document's own status, nothing else
        assert len(errors) == 1 and "404" in errors[0], errors
        errors = []
    assert failed == [] and errors == [], (failed, errors)


def test_docs_render_their_operations(server: str, page) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(server + "/openapi.json", timeout=10) as r:
        spec = json.load(r)
    n_ops = sum(1 for p in spec["paths"].values() for m in p if m in ("get", "post", "put", "delete", "head"))
    page.goto(server + "/docs")
    page.wait_for_function(f"() => document.querySelectorAll('.opblock').length >= {n_ops}", timeout=30000)
    assert page.locator(".opblock-summary-path", has_text="/api/models/{name}").count() >= 1
    assert page.console_errors == []
