"""Both languages in a real browser: the header switch, the remembered choice, no English sentence left in
Chinese; and Predict-the-shape mode driven by the keyboard alone."""

from __future__ import annotations

import re

import pytest

from app.web.routes.pages import SAMPLES

pytestmark = pytest.mark.browser

PAGES = ["/", "/draw", "/compare", "/models/lenet5", "/models/alexnet", "/models/vgg16-1", "/models/resnet50",
         "/models/tiny"]
# four or more English words in a row: a sentence or a UI phrase left untranslated
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){3,}")

VISIBLE_TEXT = """() => {
  const root = document.body.cloneNode(true);
  root.querySelectorAll('code, script, style, svg title').forEach(n => n.remove());
  root.querySelectorAll('details').forEach(d => d.setAttribute('open', ''));
  const attrs = [...document.querySelectorAll('[aria-label], [title], [alt], [placeholder]')]
    .flatMap(n => ['aria-label', 'title', 'alt', 'placeholder'].map(a => n.getAttribute(a)).filter(Boolean));
  return root.textContent + '\\n' + attrs.join('\\n');
}"""


def test_switch_and_remember(server: str, page) -> None:
    page.goto(server + "/models/lenet5")
    assert page.get_attribute("html", "lang") == "en" and page.locator("h2", has_text="Layers").count() == 1
    page.click("nav .lang-switch a[hreflang='zh-Hans']")
    page.wait_for_url("**lang=zh")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert page.locator("h2", has_text="逐层讲解").count() == 1
    page.click("nav a[href='/compare']")  # no ?lang= any more: the cookie remembers
    assert page.get_attribute("html", "lang") == "zh-Hans" and "比较网络结构" in page.inner_text("h1")
    page.wait_for_selector("#diff")
    assert "不同的阶段" in page.inner_text("#side")  # a string from compare.js, from the same catalog
    page.click("nav .lang-switch a[hreflang='en']")
    page.wait_for_url("**lang=en")
    assert page.inner_text("h1") == "Compare architectures"
    assert page.console_errors == []


@pytest.mark.parametrize("path", PAGES)
def test_no_english_sentence_left_in_zh(server: str, page, path: str) -> None:
    page.goto(server + path + "?lang=zh")
    if path == "/compare":
        page.wait_for_selector("#diff")
    text = page.evaluate(VISIBLE_TEXT)
    for s in SAMPLES:  # photographers' names are names, not sentences
        text = text.replace(s["author"], "")
    left = sorted({m.group(0) for m in ENGLISH_RUN.finditer(text)})
    assert left == [], f"{path}: English left in the Chinese page: {left[:10]}"
    page.goto(server + path + "?lang=en")  # the same check finds English on the English page
    assert ENGLISH_RUN.search(page.evaluate(VISIBLE_TEXT))
    assert page.console_errors == []


def test_zh_draw_page_scripts(server: str, page) -> None:
    page.goto(server + "/draw?lang=zh")
    assert page.inner_text("#status") == "请写点什么"
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 240, steps=8)
    page.mouse.up()
    # the status line follows the answer after the pen lifts (the live answers during the stroke leave it)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('毫秒')", timeout=30000)
    assert "最小" in page.inner_text("#layers .stats >> nth=0")
    assert page.console_errors == []


def test_predict_the_shape_with_the_keyboard(server: str, page) -> None:
    page.goto(server + "/models/lenet5")
    page.focus("#predict-toggle")
    page.keyboard.press("Enter")
    assert page.get_attribute("#predict-toggle", "aria-pressed") == "true"
    row0 = page.locator("#layer-table tbody tr >> nth=0")
    assert row0.locator(".answer").count() == 7  # output, arithmetic, params, %, MACs, %, activations
    assert not any(row0.locator(".answer").nth(i).is_visible() for i in range(7))
    shape0 = page.locator("#layer-table .predict-shape >> nth=0")
    assert page.evaluate("document.activeElement.classList.contains('predict-shape')")  # focus moved to the quiz

    def tab_to(cls: str) -> None:
        for _ in range(6):
            if page.evaluate(f"document.activeElement.classList.contains('{cls}')"):
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached .{cls}")

    page.keyboard.type("6x28x28")
    tab_to("predict-params")
    page.keyboard.type("156")
    page.keyboard.press("Enter")
    fb = page.locator("#layer-table .predict-feedback >> nth=0")
    assert fb.inner_text() == "Right!" and shape0.get_attribute("aria-invalid") == "false"
    tab_to("predict-shape")  # the next row
    page.keyboard.type("6×28×28")
    tab_to("predict-params")
    page.keyboard.type("12")
    page.keyboard.press("Enter")
    fb1 = page.locator("#layer-table .predict-feedback >> nth=1")
    assert fb1.inner_text().startswith("Not quite") and "output shape" in fb1.inner_text()
    assert page.inner_text("#predict-score") == "1 of 2 right"
    page.locator("#layer-table tbody tr >> nth=0").locator("button", has_text="Show working").focus()
    page.keyboard.press("Enter")
    work = page.locator("#layer-table .predict-working >> nth=0")
    assert work.is_visible() and "params = (5·5·1 + 1)·6 = 156" in work.inner_text()
    page.focus("#predict-toggle")
    page.keyboard.press("Enter")  # off again: the answers are back
    assert page.locator("#layer-table tbody tr >> nth=0").locator(".answer >> nth=0").is_visible()
    assert page.console_errors == []
