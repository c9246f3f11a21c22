"""Gallery, explorer and comparison pages in real headless Chromium."""

from __future__ import annotations

import pytest

from app import nets
from app.analysis import analyse
from app.nets import vgg
from tests.browser.conftest import canvas_painted

pytestmark = pytest.mark.browser


def test_gallery(server: str, page) -> None:
    page.goto(server + "/")
    names = page.eval_on_selector_all("#gallery .card", "cs => cs.map(c => c.dataset.name)")
    assert set(nets.BUILTIN_NAMES) | {"tiny"} <= set(names)  # the foreign file too
    assert page.locator(".card[data-name='vgg16-3'] .badge.untrained").count() == 1
    for digits in ("lenet5", "lenet5-1998"):  # the pad for each digit model, none for photo models
        assert page.locator(f".card[data-name='{digits}'] a[href='/draw?model={digits}']").count() == 1
    assert page.locator(".card[data-name='vgg16-3'] a[href^='/draw']").count() == 0
    assert page.title().startswith("Gallery")
    assert page.console_errors == []


@pytest.mark.parametrize("name", ["vgg16-3", "resnet50"])
def test_explorer_runs_a_sample_photo(server: str, page, name: str) -> None:
    page.goto(f"{server}/models/{name}")
    rows = page.locator("#layer-table tbody tr:not(.part)")  # a block's parts are rows of their own
    assert rows.count() == len(analyse(nets.get(name)))
    assert page.locator("#diagram svg rect").count() == rows.count()
    page.click(".sample >> nth=0")  # the cat
    page.wait_for_function("() => document.querySelectorAll('#layers canvas.map').length > 0", timeout=60000)
    assert page.locator("#topk li").count() == 5
    first = page.locator("#layers section.layer").first
    assert canvas_painted(page, "#layers section.layer canvas.map")
    assert first.locator("canvas.map").count() == 16  # first page of 64 channels
    first.locator("button.more").click()  # and the next page on demand
    page.wait_for_function(
        "() => document.querySelector('#layers section.layer').querySelectorAll('canvas.map').length > 16")
    size = int(page.evaluate("document.body.dataset.transferBytes"))
    assert size < 2_000_000
    assert page.console_errors == []


def test_foreign_file_explorer(server: str, page) -> None:
    page.goto(server + "/models/tiny")
    assert page.locator("#layer-table tbody tr").count() == 7
    shapes = page.eval_on_selector_all("#layer-table tbody tr td:nth-child(4)", "tds => tds.map(t => t.textContent)")
    assert shapes[0] == "8×32×32" and shapes[-1] == "10"
    assert page.console_errors == []


def test_compare(server: str, page) -> None:
    page.goto(server + "/compare")
    # the VGG table, drawn from the definitions: conv rows per column equal each config's convs
    cols = page.eval_on_selector_all("#vgg-table tr.cfg-row", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    for j, name in enumerate(vgg.variants):
        cfg = vgg.cfgs[vgg.variants[name][0]]
        want = [("LRN" if v == "LRN" else f"conv{v[1]}-{v[0]}" if isinstance(v, tuple) else f"conv3-{v}")
                for v in cfg if v != "M"]
        assert [r[j] for r in cols if r[j]] == want
    params = page.eval_on_selector_all("#vgg-table tfoot td", "tds => tds.map(t => +t.dataset.params)")
    assert params == [132_863_336, 132_863_336, 133_047_848, 133_638_952, 138_357_544, 143_667_240]
    # VGG16-1 vs VGG16-3: exactly the three 1x1-vs-3x3 convs
    page.wait_for_selector("#diff")
    diff = page.eval_on_selector_all("#diff tbody tr.diff-row", "rs => rs.map(r => r.cells[0].textContent)")
    assert diff == ["conv3_3", "conv4_3", "conv5_3"]
    stages = page.eval_on_selector_all("#diff tbody tr.stage-row", "rs => rs.map(r => r.dataset.stage)")
    assert stages == ["at 56×56", "at 28×28", "at 14×14"]  # the blocks they sit in
    assert page.locator("#chart circle").count() >= 14
    assert page.console_errors == []


def test_compare_aligns_resnet_stages_and_says_the_block_kind_changes(server: str, page) -> None:
    page.goto(server + "/compare")
    page.select_option("#a", value="resnet18")
    page.select_option("#b", value="resnet50")
    page.wait_for_function("() => document.querySelectorAll('#diff tr.kind-change').length === 4")
    rows = page.eval_on_selector_all("#diff tbody tr.stage-row",
                                     "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert [r[0] for r in rows] == ["layer1", "layer2", "layer3", "layer4", "at 7×7", "classifier"]
    def stage_params(name: str) -> int:
        return sum(x.params or 0 for x in analyse(nets.get(name)) if x.name.startswith("layer1."))

    want = stage_params("resnet50") - stage_params("resnet18")
    assert rows[0][3] == f"+{want:,}"
    assert rows[0][1].startswith("2 basic blocks") and rows[0][2].startswith("3 bottleneck blocks")
    change = page.locator("#diff tr.kind-change").first.inner_text()
    assert "basic → bottleneck" in change and "1×1 conv 64, 3×3 conv 64, 1×1 conv 256" in change
    # never a name-matched "layer1.1: -3,584 params" between a basic and a bottleneck block
    assert page.locator("#diff tr.diff-row", has_text="layer1.1").first.inner_text().count("Conv") >= 2
    assert page.console_errors == []


def test_numbers_grouped_and_shortened_alike_by_the_pages_and_the_server(server: str, page) -> None:
    from app.web.routes.pages import templates

    commas = templates.env.filters["commas"]  # what the server-rendered tables print
    page.goto(server + "/compare")
    page.wait_for_selector("#diff")
    numbers = [0, 7, 999, 1000, 61_706, 295_168, 138_357_544, -3_584, None]
    full = page.evaluate("async ns => { const { full } = await import('/static/js/lib.js'); return ns.map(full); }",
                         numbers)
    assert full == [commas(n) for n in numbers]
    si = templates.env.filters["si"]  # the MACs of the server-rendered tables
    numbers = [0, 7, 999, 1000, 1234, 61_706, 999_499, 11_689_512, 138_357_544, 1_500_000_000, 15_470_264_320,
               -3_584, 0.5, 1125, 2675, -1125, 1_125_000, 99_950, 999_950_000, None]  # ties: half away from zero
    short = page.evaluate("async ns => { const { si } = await import('/static/js/lib.js'); return ns.map(si); }",
                          numbers)
    assert short == [si(n) for n in numbers]
    assert si(15_470_264_320) == "15.5G" and si(1_500_000_000) == "1.5G" and si(138_357_544) == "138M"
    # and on the page: the facts table (lib.js) prints VGG's parameters as the VGG table (Jinja) does
    facts = page.eval_on_selector_all(".facts-table tbody tr",
                                      "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    params = next(r for r in facts if r[0] == "parameters")[1:]
    footer = page.eval_on_selector_all("#vgg-table tfoot td", "tds => tds.map(t => t.textContent)")
    assert params and all("," in p and p in footer for p in params)
    assert page.console_errors == []


def test_model_detail_fetched_once_on_the_pad_and_never_on_the_explorer(server: str, page) -> None:
    asked: list[str] = []
    page.on("request", lambda r: r.url.split("?")[0].endswith("/api/models/lenet5") and asked.append(r.url))
    page.goto(server + "/models/lenet5")  # the page embeds the detail (#model-data): the unit panel uses it
    page.wait_for_selector("#kernels select")
    assert asked == []
    page.goto(server + "/draw")  # the unit panel and the kernels view share one request
    page.wait_for_selector("#kernels select")
    assert len(asked) == 1
    assert page.console_errors == []
