"""Inside one unit in real Chromium: click (or keyboard-select) a map cell on the pad and on the VGG16
explorer; the receptive-field box and the unit panel appear and their numbers equal the API's."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.pad import draw

pytestmark = pytest.mark.browser
SAMPLES = Path(__file__).resolve().parents[2] / "static" / "samples"
FMT = "async v => (await import('/static/js/lib.js')).fmt(v)"  # the page's own number format
# four or more English words in a row (as tests/browser/test_i18n.py): a phrase left untranslated
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){3,}")
PANEL_TEXT = """() => ['#unit-panel', '#kernels'].map(s => {
  const n = document.querySelector(s);
  const attrs = [...n.querySelectorAll('[aria-label], [title], [alt]')]
    .flatMap(e => ['aria-label', 'title', 'alt'].map(a => e.getAttribute(a)).filter(Boolean));
  return n.textContent + '\\n' + attrs.join('\\n');
}).join('\\n')"""


def _api(server: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(server + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def _panel(page) -> dict:
    return page.eval_on_selector("#unit-panel", """p => ({value: Number(p.dataset.value), box: p.dataset.box,
        title: p.querySelector('h4').textContent, output: p.querySelector('.v-output')?.textContent,
        rf: p.querySelector('.rf-text').textContent})""")


def _click_cell(page, selector: str, fy: float, fx: float) -> None:
    cv = page.locator(selector)
    cv.scroll_into_view_if_needed()
    bb = cv.bounding_box()
    cv.click(position={"x": bb["width"] * fx, "y": bb["height"] * fy})


def test_pad_click_shows_box_panel_and_examples_matching_the_api(server: str, page) -> None:
    page.goto(server + "/draw")
    draw(page, 3)
    page.wait_for_function("() => document.getElementById('prediction').textContent === '3'", timeout=15000)
    _click_cell(page, "section[data-layer='C3'] canvas.map >> nth=4", 5.5 / 10, 4.5 / 10)  # cell (5, 4)
    page.wait_for_selector("#unit-panel .v-output", timeout=15000)
    shown = _panel(page)
    assert shown["title"] == "C3 · channel 4 · unit (y 5, x 4)"
    assert page.text_content("#cell-readout").startswith("C3 ch 4 (y 5, x 4): ")  # the clicked cell, not (0, 0)
    image = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    want = _api(server, "/api/models/lenet5/unit", {"image": image, "layer": "C3", "channel": 4, "y": 5, "x": 4})
    rf = _api(server, "/api/models/lenet5/rf?layer=C3&y=5&x=4")
    assert shown["value"] == pytest.approx(want["value"], abs=1e-6)
    assert shown["box"] == ",".join(map(str, rf["box"])) == "10,8,23,21"
    assert "rows 10…23, columns 8…21 of the 32×32 input" in shown["rf"]
    assert page.locator("#unit-panel .chan-row").count() == 6  # C3 reads S2's six channels
    assert page.text_content("#unit-panel .v-pre") == page.evaluate(FMT, want["pre_activation"])
    assert page.text_content("#unit-panel .v-sum") == page.evaluate(FMT, want["sum"])
    # the dataset examples under the channel: nine crops, as the API lists them
    page.wait_for_selector("#unit-panel .examples img", timeout=60000)
    ex = _api(server, "/api/models/lenet5/examples?layer=C3&channel=4")
    got = page.eval_on_selector_all("#unit-panel .example", "fs => fs.map(f => Number(f.dataset.index))")
    assert got == [e["mnist_index"] for e in ex]
    # the slider walks the box: the last unit's box is the API's
    page.eval_on_selector("#unit-panel .rf-walk", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
    last = _api(server, "/api/models/lenet5/rf?layer=C3&y=9&x=9")["box"]
    assert f"rows {last[0]}…{last[2]}, columns {last[1]}…{last[3]}" in page.text_content("#unit-panel .rf-text")
    # drawing more updates the open panel (C1 is the showcase): new value equals the API's for the new drawing
    _click_cell(page, "section[data-layer='C1'] canvas.map >> nth=2", 14.5 / 28, 14.5 / 28)
    page.wait_for_function("t => document.querySelector('#unit-panel h4').textContent.endsWith(t)",
                           arg="2 · unit (y 14, x 14)")
    page.wait_for_selector("#unit-panel .v-output")
    before = _panel(page)["value"]
    draw(page, 1, scale=0.5)
    value = "document.getElementById('unit-panel').dataset.value"
    page.wait_for_function(f"b => Number({value}) !== b", arg=before, timeout=15000)
    image = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    want = _api(server, "/api/models/lenet5/unit", {"image": image, "layer": "C1", "channel": 2, "y": 14, "x": 14})
    settled = f"v => Math.abs(Number({value}) - v) < 1e-6"
    page.wait_for_function(settled, arg=want["value"], timeout=15000)  # the last request settles on the API value
    assert page.console_errors == []


SUMS = """sel => [...document.querySelectorAll(sel)].map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s; })"""


@pytest.mark.parametrize("where", ["/draw", "/models/lenet5"])
def test_one_colour_scale_recolours_in_place_and_the_unit_panel_stays(server: str, page, where: str) -> None:
    """Ticking "one colour scale" repaints the same canvases (an open unit panel stays open on its unit);
    unticking gives back each channel's own scale, pixel for pixel."""
    page.goto(server + where)
    if where == "/draw":
        draw(page, 3)
        page.wait_for_function("() => document.getElementById('prediction').textContent === '3'", timeout=15000)
    else:
        page.click(".sample >> nth=0")
        page.wait_for_selector("section[data-layer='C3'] canvas.map", timeout=60000)
    maps = "section[data-layer='C3'] canvas.map"
    _click_cell(page, f"{maps} >> nth=4", 5.5 / 10, 4.5 / 10)
    page.wait_for_selector("#unit-panel .v-output", timeout=15000)
    title = _panel(page)["title"]
    page.eval_on_selector(f"{maps} >> nth=4", "c => { c.dataset.kept = 'yes'; }")  # the same element after?
    own = page.evaluate(SUMS, maps)
    page.check("#shared-scale")
    page.wait_for_function("([sel, own]) => JSON.stringify((" + SUMS + ")(sel)) !== JSON.stringify(own)",
                           arg=[maps, own])
    assert page.get_attribute(f"{maps} >> nth=4", "data-kept") == "yes"
    assert page.is_visible("#unit-panel .v-output") and _panel(page)["title"] == title
    page.uncheck("#shared-scale")
    page.wait_for_function("([sel, own]) => JSON.stringify((" + SUMS + ")(sel)) === JSON.stringify(own)",
                           arg=[maps, own])
    assert page.is_visible("#unit-panel .v-output") and _panel(page)["title"] == title
    assert page.console_errors == []


def test_rf_boxes_alike_on_the_page_and_the_server(server: str, page) -> None:
    """The page draws a unit's box with unit.js's rfBox; the API answers with app.units.rf.box: the same
    box for every field, the even windows whose edges fall on a half pixel too."""
    from app.units.rf import box

    page.goto(server + "/models/lenet5")
    cases = [(size, jump, start, y, x) for size, jump, start in [(5, 1, 2), (2, 1, 0.5), (2, 1, 1.5), (4, 2, 1.5),
                                                                  (6, 2, 2.5), (3, 2, 1), (24, 4, 2), (7, 1, 3)]
             for y, x in [(0, 0), (1, 3), (5, 2)]]
    got = page.evaluate("""async cs => { const { rfBox } = await import('/static/js/unit.js');
        return cs.map(([size, jump, start, y, x]) => rfBox({ size, jump, start }, y, x)); }""", cases)
    assert got == [box(*c) for c in cases]
    assert box(2, 1, 1.5, 0, 0) == [1, 1, 2, 2]  # top = 1.5 - 1 = 0.5: up to 1, as Math.round(0.5)


def test_walking_the_box_decodes_the_input_once_and_draws_it(server: str, page) -> None:
    page.goto(server + "/draw")
    draw(page, 3)
    page.wait_for_function("() => document.getElementById('prediction').textContent === '3'", timeout=15000)
    _click_cell(page, "section[data-layer='C3'] canvas.map >> nth=0", 0.5, 0.5)
    page.wait_for_selector("#unit-panel .v-output", timeout=15000)
    page.evaluate("""() => { const I = window.Image; window.decoded = 0;
        window.Image = class extends I { constructor(...a) { super(...a); window.decoded++; } }; }""")
    for v in range(0, 100, 5):  # 20 steps of the slider across C3's 10x10 units
        page.eval_on_selector("#unit-panel .rf-walk",
                              "(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }", v)
    page.wait_for_timeout(200)
    assert page.evaluate("window.decoded") <= 1  # was one new Image (a data-URL decode) per step
    # the input is on the canvas: the drawn digit's ink is dark and its background light, inside the dashed frame
    spread = page.eval_on_selector("#unit-panel .rf-canvas", """c => { const d = c.getContext('2d')
        .getImageData(0, 0, c.width, c.height).data; let lo = 255, hi = 0;
        for (let i = 0; i < d.length; i += 4) { const g = d[i + 1]; lo = Math.min(lo, g); hi = Math.max(hi, g); }
        return hi - lo; }""")
    assert spread > 150
    assert page.console_errors == []


def test_pad_keyboard_selection_reads_values_and_opens_a_unit(server: str, page) -> None:
    page.goto(server + "/draw")
    draw(page, 7)
    page.wait_for_selector("section[data-layer='S2'] canvas.map")
    cv = page.locator("section[data-layer='S2'] canvas.map >> nth=1")
    cv.scroll_into_view_if_needed()
    cv.focus()
    for key in ["ArrowDown"] * 6 + ["ArrowRight"] * 3 + ["ArrowLeft"]:
        page.keyboard.press(key)
    assert page.text_content("#cell-readout").startswith("S2 ch 1 (y 6, x 2): ")
    page.keyboard.press("Enter")
    page.wait_for_selector("#unit-panel .v-output")
    shown = _panel(page)
    assert shown["title"] == "S2 · channel 1 · unit (y 6, x 2)"
    image = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    want = _api(server, "/api/models/lenet5/unit", {"image": image, "layer": "S2", "channel": 1, "y": 6, "x": 2})
    assert shown["value"] == pytest.approx(want["value"], abs=1e-6)
    assert page.locator("#unit-panel .heat .cell.mark").count() == 1  # the window's winner
    page.wait_for_selector("#kernels canvas.tiles")  # LeNet's C1 kernels, grey
    assert page.get_attribute("#kernels .kernels-body", "data-shape") == "6,1,5,5"
    page.select_option("#kernels select", "C3")  # C3: 16 filters x 6 input channels, every slice drawn
    page.wait_for_function("() => document.querySelector('#kernels .kernels-body').dataset.shape === '16,6,5,5'")
    assert "16 filters (rows) × 6 input channels (columns) of 5×5" in page.text_content("#kernels .kernels-body")
    assert page.console_errors == []


def test_vgg16_explorer_click_matches_the_api(server: str, page) -> None:
    page.goto(server + "/models/vgg16")
    page.click(".sample >> nth=1")
    page.wait_for_selector("section[data-layer='conv3_1']", timeout=180000)
    page.locator("section[data-layer='conv3_1']").scroll_into_view_if_needed()  # maps paint as they scroll in
    page.wait_for_selector("section[data-layer='conv3_1'] canvas.map")
    _click_cell(page, "section[data-layer='conv3_1'] canvas.map >> nth=3", 5.5 / 56, 7.5 / 56)
    page.wait_for_selector("#unit-panel .v-output", timeout=60000)
    shown = _panel(page)
    m = re.fullmatch(r"conv3_1 · channel 3 · unit \(y (\d+), x (\d+)\)", shown["title"])
    y, x = int(m[1]), int(m[2])  # a cell is one pixel here: near (5, 7); the page says which one it picked
    assert abs(y - 5) <= 1 and abs(x - 7) <= 1
    src = page.get_attribute(".sample >> nth=1", "data-src")
    image = "data:image/jpeg;base64," + base64.b64encode((SAMPLES / Path(src).name).read_bytes()).decode()
    want = _api(server, "/api/models/vgg16/unit", {"image": image, "layer": "conv3_1", "channel": 3, "y": y, "x": x})
    assert shown["value"] == pytest.approx(want["value"], abs=1e-6)
    top, left = 2 + 4 * y - 12, 2 + 4 * x - 12  # conv3_1: size 24, jump 4, start 2
    assert shown["box"] == ",".join(map(str, want["rf"]["box"])) == f"{top},{left},{top + 23},{left + 23}"
    assert page.locator("#unit-panel .partials li").count() == 32  # 128 input channels: partial sums listed
    # the slider walks the box to the corner unit, whose field hangs over the padding
    page.eval_on_selector("#unit-panel .rf-walk", "s => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    corner = _api(server, "/api/models/vgg16/rf?layer=conv3_1&y=0&x=0")["box"]
    assert corner == [-10, -10, 13, 13]
    text = page.text_content("#unit-panel .rf-text")
    assert "rows -10…13, columns -10…13 of the 224×224 input" in text and "outside the image: padding" in text
    page.locator("#kernels").scroll_into_view_if_needed()
    page.wait_for_selector("#kernels canvas.tiles")  # conv1_1 as RGB tiles
    assert "random" in page.text_content("#kernels")
    assert page.get_attribute("#kernels .kernels-body", "data-shape") == "64,3,3,3"
    assert "each filter normalised to its own min…max" in page.text_content("#kernels .kernels-body")
    # a deep layer: one square per filter (its L2 norm, as the API computes it); one opens into its slices
    page.select_option("#kernels select", "conv3_1")
    page.wait_for_selector("#kernels .norms button.norm")
    assert page.locator("#kernels .norms button.norm").count() == 256
    norms = _api(server, "/api/models/vgg16/kernels?layer=conv3_1&norms_only=true")["norms"]
    norm5 = page.evaluate(FMT, norms[5])
    assert page.get_attribute("#kernels .norms button.norm >> nth=5", "title") == f"filter 5: norm {norm5}"
    page.click("#kernels .norms button.norm >> nth=5")
    page.wait_for_selector("#kernels .filter-slices canvas.tiles")
    assert f"filter 5 (norm {norm5}): its 128 slices of 3×3" in page.text_content("#kernels .filter-slices")
    assert page.console_errors == []


def test_unit_panel_and_kernels_speak_the_page_language(server: str, page) -> None:
    for lang in ("zh", "en"):
        page.goto(server + f"/draw?lang={lang}")
        draw(page, 3)
        page.wait_for_function("() => document.getElementById('prediction').textContent === '3'", timeout=15000)
        page.wait_for_load_state("networkidle")  # the last stroke's answer has repainted the maps
        _click_cell(page, "section[data-layer='C3'] canvas.map >> nth=4", 5.5 / 10, 4.5 / 10)
        page.wait_for_selector("#unit-panel .v-output", timeout=15000)
        page.wait_for_selector("#unit-panel .examples img", timeout=120000)
        page.wait_for_selector("#kernels canvas.tiles")
        conv = page.evaluate(PANEL_TEXT)
        _click_cell(page, "section[data-layer='S4'] canvas.map >> nth=1", 2.5 / 5, 2.5 / 5)  # a max pool
        page.wait_for_function("() => document.querySelector('#unit-panel h4').textContent.startsWith('S4')")
        page.wait_for_selector("#unit-panel .v-output", timeout=15000)
        text = conv + "\n" + page.evaluate(PANEL_TEXT)
        left = sorted({m.group(0) for m in ENGLISH_RUN.finditer(text)})
        if lang == "zh":
            assert left == [], f"English left in the Chinese unit panel: {left[:10]}"
            assert "感受野" in text and "最大池化" in text
        else:  # the same check finds the English
            assert "close the unit panel" in left and "blue negative, red positive" in left
    assert page.console_errors == []


def test_pad_1998_panel_shows_the_squashing_and_its_kernels(server: str, page) -> None:
    """The 1998 LeNet-5's C3 ends in 1.7159·tanh(2a/3): the panel walks × 2/3, tanh, × 1.7159 to the
    map's value (the API's), and the pad offers its kernels view."""
    page.goto(server + "/draw?model=lenet5-1998")
    draw(page, 3)
    _click_cell(page, "section[data-layer='C3'] canvas.map >> nth=3", 4.5 / 10, 4.5 / 10)  # cell (4, 4)
    page.wait_for_selector("#unit-panel .v-output", timeout=15000)
    image = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    want = _api(server, "/api/models/lenet5-1998/unit", {"image": image, "layer": "C3", "channel": 3, "y": 4, "x": 4})
    steps = page.eval_on_selector_all("#unit-panel .v-step", "bs => bs.map(b => b.textContent)")
    assert steps == [page.evaluate(FMT, s["value"]) for s in want["steps"]] and len(steps) == 3
    assert steps[-1] == page.text_content("#unit-panel .v-output")
    assert page.locator("#unit-panel .chan-row").count() == 6  # C3 map 3 reads three S2 maps; the others' kernels are 0
    assert page.locator("#kernels").text_content()
    assert page.console_errors == []


def test_photo_model_with_imported_weights_shows_what_excites_a_channel(tmp_path: Path, page) -> None:
    """ResNet-18 with imported weights: clicking a conv1 cell lists the nine strongest places of that channel
    in the sample photos, as the API gives them (seeded models show none: their crops would be noise)."""
    from app import nets
    from app.backends.onnx_write import write_model
    from app.weights.init import HeWeights
    from tests.helpers.pages import run_sample
    from tests.helpers.server import copy_lenet, serve

    copy_lenet(tmp_path)
    net = nets.get("resnet18")
    write_model(net, HeWeights(net, 3), tmp_path, "imported", {"checkpoint": "x.pth"})
    with serve(tmp_path, "--log-level", "warning") as url:
        page.goto(url + "/models/resnet18")
        run_sample(page)
        page.locator("section[data-layer='conv1']").scroll_into_view_if_needed()
        page.wait_for_selector("section[data-layer='conv1'] canvas.map")
        _click_cell(page, "section[data-layer='conv1'] canvas.map >> nth=2", 0.5, 0.5)
        page.wait_for_selector("#unit-panel .unit-examples figure.example", timeout=60000)
        got = page.eval_on_selector_all("#unit-panel .example", "fs => fs.map(f => f.dataset.sample)")
        want = _api(url, "/api/models/resnet18/examples?layer=conv1&channel=2")
        assert got == [e["sample"] for e in want] and len(got) == 9
        assert page.console_errors == []
