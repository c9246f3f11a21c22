"""No horizontal overflow on any page at 1366 and 390 px, before and after a run; maps drawn at sizes that
follow their real sizes; vectors as wrapped grids; one colour scale per layer on request (issue 11 items 3, 6)."""

from __future__ import annotations

import pytest

from tests.helpers.pages import PAGES, run_sample

pytestmark = pytest.mark.browser

WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("path", list(PAGES))
def test_no_horizontal_overflow(server: str, browser, path: str, width: int) -> None:
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    page.goto(server + path)
    page.wait_for_load_state("networkidle")
    scroll, inner = page.evaluate(WIDTH)
    assert scroll <= inner, f"{path} at {width}px before a run: {scroll} px wide"
    if PAGES[path]:
        PAGES[path](page)
        scroll, inner = page.evaluate(WIDTH)
        assert scroll <= inner, f"{path} at {width}px after a run: {scroll} px wide"
    ctx.close()


@pytest.mark.parametrize("name", ["alexnet", "vgg16-3"])
def test_map_sizes_follow_real_sizes(server: str, page, name: str) -> None:
    page.goto(f"{server}/models/{name}")
    run_sample(page)
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(500)
    sizes = page.eval_on_selector_all("#layers section.layer", """ss => ss.map(s => {
        const c = s.querySelector('canvas.map:not(.vector)'), small = s.querySelector('small').textContent;
        return c ? [small, c.getBoundingClientRect().width] : null; }).filter(Boolean)""")
    real = [int(s.split("×")[1]) for s, _ in sizes]
    drawn = [w for _, w in sizes]
    assert len(sizes) >= 5
    for (r1, d1), (r2, d2) in zip(zip(real, drawn, strict=True), zip(real[1:], drawn[1:], strict=True), strict=False):
        if r2 < r1:
            assert d2 <= d1, (sizes)  # a smaller real map is never drawn bigger (AlexNet 55 -> 27, VGG 224 -> 14)
        if r2 == r1:
            assert abs(d2 - d1) <= 1, sizes
    if name == "alexnet":  # conv1 55x55 and pool1 27x27: drawn in proportion
        assert abs(drawn[0] / drawn[1] - 55 / 27) < 0.1, sizes
    # fully connected layers: wrapped grids of cells no wider than the page, not 1-px strips
    fc = page.eval_on_selector_all("#layers canvas.map.vector",
                                   "cs => cs.map(c => [c.width, c.height, c.getBoundingClientRect().width])")
    assert fc and all(h > 1 and w <= 300 for _, h, w in fc), fc


def test_lenet_output_cells_are_labelled_and_one_scale_is_offered(server: str, page) -> None:
    page.goto(server + "/models/lenet5")
    run_sample(page)
    labels = page.eval_on_selector_all("section[data-layer='output'] .vec-labels span",
                                       "ss => ss.map(s => s.textContent)")
    assert labels == [str(d) for d in range(10)]

    def pixels() -> list[int]:
        return page.eval_on_selector_all("section[data-layer='C1'] canvas.map", """cs => cs.map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let s = 0;
            for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s; })""")

    per_channel = pixels()
    page.check("#shared-scale")
    page.wait_for_timeout(300)
    page.evaluate("() => document.querySelector('section[data-layer=C1]').scrollIntoView()")
    page.wait_for_function("() => document.querySelectorAll('section[data-layer=C1] canvas.map').length === 6")
    shared = pixels()
    assert len(shared) == 6 and shared != per_channel  # repainted on one scale
    assert page.console_errors == []
