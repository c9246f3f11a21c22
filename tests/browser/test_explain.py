"""The explain control in real headless Chromium: on the pad and on an explorer, an explanation
runs (with progress for occlusion) and the page shows the overlay, the legend, the curves and
the sanity figure; the opacity slider repaints the overlay."""

from __future__ import annotations

import pytest

from tests.browser.conftest import canvas_painted
from tests.helpers.pad import draw

pytestmark = pytest.mark.browser


def _pixels(page) -> list[int]:
    return page.eval_on_selector("#why-overlay", """c => Array.from(
        c.getContext('2d').getImageData(0, 0, c.width, c.height).data.slice(0, 4000))""")


def _explained(page, timeout: int = 60000) -> None:
    page.click("#why-go")
    page.wait_for_function("() => document.getElementById('why-panel').dataset.state === 'done'", timeout=timeout)
    assert canvas_painted(page, "#why-overlay")
    assert page.locator("#why-curves polyline").count() == 3
    assert "AUC" in page.text_content(".why-key")
    sanity = page.text_content("#why-sanity strong")
    assert sanity == "—" or -1 <= float(sanity) <= 1
    assert page.locator("#why-legend canvas").count() == 1


def test_explain_on_the_pad(server: str, page) -> None:
    page.goto(server + "/draw")
    assert page.locator("#why-panel").is_hidden()  # nothing to explain before a prediction
    draw(page, 7)
    page.wait_for_function("() => document.getElementById('prediction').textContent.length >= 1", timeout=10000)
    page.wait_for_function("() => document.querySelectorAll('#why-layer option').length > 0", timeout=10000)
    assert page.eval_on_selector("#why-layer", "s => s.value") == "S4"  # the default layer
    assert page.locator("#why-target option").count() == 10
    assert "23 images" in page.text_content("#why-cost")
    _explained(page)
    assert "Grad-CAM at S4" in page.text_content("#why-result figcaption")
    before = _pixels(page)
    page.fill("#why-opacity", "100")
    page.dispatch_event("#why-opacity", "input")
    assert _pixels(page) != before  # the slider repaints the overlay over the input
    # occlusion: its cost is stated before it starts, and progress is shown while it runs
    page.select_option("#why-method", "occlusion")
    assert page.locator("#why-layer").is_hidden() and page.locator("#why-patch").is_visible()
    assert "72 images" in page.text_content("#why-cost")
    _explained(page)
    assert "probability drop per patch (7×7 positions, patch 8, stride 4)" in page.text_content("#why-result")
    assert page.console_errors == []


def test_explain_on_an_explorer(server: str, page) -> None:
    page.goto(server + "/models/resnet50")
    page.click(".sample >> nth=0")
    page.wait_for_function("() => document.querySelectorAll('#topk li').length === 5", timeout=60000)
    page.wait_for_function("() => document.querySelectorAll('#why-layer option').length > 0", timeout=60000)
    assert page.eval_on_selector("#why-layer", "s => s.value") == "layer4.2"
    page.select_option("#why-target", index=1)  # the second class of the top 5
    _explained(page)
    assert "Grad-CAM at layer4.2 (7×7)" in page.text_content("#why-result figcaption")
    w = page.eval_on_selector("#why-overlay", "c => [c.width, c.height]")
    assert w == [224, 224]
    assert page.console_errors == []
