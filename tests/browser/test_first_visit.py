"""What a user meets on a first visit (issue 11 items 7, 8): digit samples for the digit model, its test
accuracy, the HTML 404 page, placeholders instead of broken images, an invalid upload clearing the maps, "not
sure" on the pad, keyboard-only upload, a skip link, a live status, headings in order."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser


def test_lenet_explorer_offers_mnist_digits_and_its_test_accuracy(server: str, page) -> None:
    page.goto(server + "/models/lenet5")
    alts = page.eval_on_selector_all(".sample img", "is => is.map(i => i.alt)")
    assert alts == [str(d) for d in range(10)]
    srcs = page.eval_on_selector_all(".sample img", "is => is.map(i => i.getAttribute('src'))")
    assert all("mnist-" in s for s in srcs) and not any("chelsea" in s for s in srcs)
    assert page.locator("#digit-note").is_visible()
    card = json.loads((ROOT / "models" / "lenet5.card.json").read_text())
    want = f"{100 * card['test_accuracy']:.2f}%"
    assert want in page.locator("#test-accuracy").text_content()
    page.click(".sample >> nth=7")  # the MNIST 7 is read as a 7
    page.wait_for_function("() => document.querySelectorAll('#topk li').length > 0", timeout=30000)
    assert page.locator("#topk li .lab").first.text_content() == "7"
    page.goto(server + "/draw")
    assert want in page.locator("#test-accuracy").text_content()
    page.goto(server + "/models/alexnet")  # photo models keep the photos
    assert "chelsea" in page.eval_on_selector(".sample img", "i => i.getAttribute('src')")
    assert page.console_errors == []


def test_unknown_model_is_an_html_page_with_the_closest_names(server: str, page) -> None:
    r = page.goto(server + "/models/vgg17")
    assert r.status == 404
    assert page.locator("h1").count() == 1 and "vgg17" in page.locator("#not-found").text_content()
    closest = page.eval_on_selector_all("#closest a", "as => as.map(a => a.textContent)")
    assert closest and all(c.startswith("vgg") for c in closest)
    page.click("#closest a >> nth=0")
    page.wait_for_selector("#layer-table")
    r = page.goto(server + "/models/VGG16-3")
    assert r.status == 200 and page.url.endswith("/models/vgg16-3")
    assert len(page.console_errors) == 1 and "404" in page.console_errors[0]  # the page's own status, nothing else
