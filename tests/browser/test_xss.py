"""Stored XSS (issue 12 item 1): a foreign model with script payloads in every field, every page visited
and run in Chromium with dialogs hooked: no script runs, no element is injected, and every response
carries a Content-Security-Policy that allows scripts only from the app."""

from __future__ import annotations

import urllib.request
from urllib.parse import quote

import pytest

from tests.helpers.hostile import INIT_JS, INJECTED_JS, hostile_model
from tests.helpers.server import copy_lenet, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("hostile-models")
    copy_lenet(d)
    name = hostile_model(d)
    with serve(d) as url:
        yield url, name


def _visit(browser, url: str, action=None) -> dict:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    ctx.add_init_script(INIT_JS)
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    resp = page.goto(url)
    page.wait_for_load_state("networkidle")
    if action:
        action(page)
        page.wait_for_load_state("networkidle")
    out = {"dialogs": dialogs, "errors": errors, "status": resp.status if resp else None,
           "xss": page.evaluate("window.__xss || 0"), "injected": page.evaluate(INJECTED_JS),
           "violations": page.evaluate("window.__violations"),
           "csp": resp.headers.get("content-security-policy") if resp else None,
           "text": page.inner_text("body")}
    ctx.close()
    return out


def _clean(r: dict) -> None:
    assert r["dialogs"] == [] and r["xss"] == 0, r
    assert r["injected"] == [], r["injected"]
    assert r["violations"] == [], r["violations"]  # nothing tried to run (and our own pages need no exception)
    script_src = r["csp"].split("script-src")[1].split(";")[0]
    assert script_src.strip() == "'self'", r["csp"]
    assert "unsafe-eval" not in r["csp"]


def test_every_page_shows_hostile_strings_as_text(hostile_server, browser) -> None:
    url, name = hostile_server
    enc = quote(name, safe="")

    def run_photo(page) -> None:
        page.click(".sample >> nth=0")
        page.wait_for_function("() => document.querySelectorAll('#topk li').length > 0", timeout=60000)
        page.wait_for_function("() => document.querySelectorAll('#layers canvas.map').length > 0", timeout=60000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # paint every layer's maps
        page.wait_for_timeout(500)

    def compare_both(page) -> None:
        page.select_option("#a", value=name)
        page.select_option("#b", value="lenet5")
        page.wait_for_function("() => document.querySelector('#side').textContent.includes('params')")
        page.select_option("#b", value=name)
        page.wait_for_timeout(300)

    pages = [("/", None), ("/compare", compare_both), ("/draw", None), (f"/models/{enc}", run_photo),
             (f"/models/{quote('y<svg onload=alert(7)>', safe='')}", None), ("/docs", None)]
    for path, action in pages:
        r = _visit(browser, url + path, action)
        _clean(r)
        assert r["errors"] == [], (path, r["errors"])
    # the payloads are on the pages, as text
    r = _visit(browser, f"{url}/models/{enc}", run_photo)
    assert "<img src=x onerror=" in r["text"]  # the sidecar title, shown literally
    assert 'p0<img src=x onerror="window.__xss' in r["text"]  # a label in the top 5 (or in the title)
    assert "<script>" in r["text"] or "</script>" in r["text"]  # a layer name


def test_every_response_carries_the_policy(hostile_server) -> None:
    url, name = hostile_server
    for path in ["/", "/docs", "/openapi.json", "/api/models", "/static/js/lib.js", "/healthz",
                 "/docs-assets/swagger-ui-bundle.js", f"/api/models/{quote(name, safe='')}"]:
        with urllib.request.urlopen(url + path, timeout=10) as resp:
            csp = resp.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-eval" not in csp, path
    try:
        urllib.request.urlopen(url + "/api/models/nope", timeout=10)
    except urllib.error.HTTPError as e:  # errors too
        assert "script-src 'self'" in e.headers["content-security-policy"]
