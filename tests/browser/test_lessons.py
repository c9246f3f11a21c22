"""The explorer's lessons in Chromium: where the numbers live, the receptive-field chart, every layer explained,
and LRN's maps before and after for one photo."""

from __future__ import annotations

import pytest

from app import nets
from app.analysis import analyse
from tests.browser.conftest import canvas_painted

pytestmark = pytest.mark.browser


def test_lessons_section(server: str, page) -> None:
    page.goto(server + "/models/vgg16-3")
    bars = page.eval_on_selector_all("#lessons .by-kind .hbar .num", "ns => ns.map(n => n.textContent)")
    assert bars[:2] == ["14,714,688", "123,642,856"]  # conv and fc parameters of VGG16
    layers = analyse(nets.get("vgg16-3"))
    assert page.locator("#rf-growth rect.rf-bar").count() == sum(1 for x in layers if x.receptive_field)
    assert page.locator("#lessons details.explain").count() == len(layers)
    i = [x.name for x in layers].index("conv3_1")
    page.click(f"#layer-table a.why >> nth={i}")  # the row's "?" opens its explanation
    box = page.locator(f"#explain-{i}")
    assert box.get_attribute("open") is not None
    assert "params = (3·3·128 + 1)·256 = 295,168" in box.inner_text()
    assert page.console_errors == []


def test_resnet_block_parts_and_why_shortcuts(server: str, page) -> None:
    page.goto(server + "/models/resnet50?lang=zh")
    assert "退化问题" in page.inner_text("#lessons > p")
    block = page.locator("#explain-2")  # layer1.0: bottleneck with a projection shortcut
    block.locator("summary >> nth=0").click()
    assert "瓶颈块" in block.inner_text() and block.locator("details.part").count() == 12
    assert page.console_errors == []


@pytest.mark.slow
def test_lrn_before_and_after(server: str, page) -> None:
    page.goto(server + "/models/vgg11-lrn")
    page.click(".sample >> nth=0")
    page.wait_for_selector("#lrn-out .lrn-item canvas.map", timeout=90000)
    item = page.locator("#lrn-out .lrn-item").first
    assert item.get_attribute("data-layer") == "lrn1"
    grids = item.locator(".lrn-pair .grid")
    assert grids.count() == 2 and grids.nth(0).locator("canvas").count() == grids.nth(1).locator("canvas").count() == 8
    assert canvas_painted(page, "#lrn-out .lrn-pair .grid canvas")
    assert "b = a / (…)^β" in item.locator(".formulas").inner_text() and "onnxruntime" in item.inner_text()
    assert page.console_errors == []
