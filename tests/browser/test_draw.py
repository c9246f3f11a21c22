"""The drawing pad in real headless Chromium: draw digits with the mouse, read #prediction."""

from __future__ import annotations

import pytest

from tests.browser.conftest import canvas_painted
from tests.helpers.pad import draw

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("digit", [0, 1, 2, 3, 4, 5, 7])
def test_draw_digit_is_recognised(server: str, page, digit: int) -> None:
    page.goto(server + "/draw")
    draw(page, digit)
    # the final answer: the highest bar is the digit (an answer from half a drawing may say otherwise)
    page.wait_for_function("d => document.getElementById('bar-' + d).classList.contains('best')", arg=digit,
                           timeout=10000)
    page.wait_for_function("() => document.querySelectorAll('#layers canvas.map').length > 0")
    said = page.text_content("#prediction")
    if digit == 1:  # this template's 1 has a long flag: 1 at 63.5%, 7 at 19.5%, so the pad says "not sure"
        assert said in ("1", "1?") and (said == "1" or "not sure" in page.text_content("#unsure"))
    else:
        assert said == str(digit)
    # every layer painted: C1's six 28x28 maps among them
    sections = page.locator("#layers section.layer")
    assert sections.count() == 7
    assert page.locator("section[data-layer='C1'] canvas.map").count() == 6
    assert canvas_painted(page, "section[data-layer='C1'] canvas.map")
    assert page.locator("#seen").get_attribute("src").startswith("data:image/png")
    assert page.console_errors == []


def test_clear_and_blank(server: str, page) -> None:
    page.goto(server + "/draw")
    draw(page, 1)
    page.wait_for_function("() => document.getElementById('prediction').textContent.length > 0", timeout=10000)
    page.click("#clear")
    assert page.text_content("#prediction") == ""
    assert page.locator("#layers canvas").count() == 0
    assert page.console_errors == []


def test_pad_at_phone_width(server: str, browser) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, has_touch=True)
    pg = ctx.new_page()
    pg.goto(server + "/draw")
    assert pg.evaluate("document.documentElement.scrollWidth") <= 380
    assert pg.locator("#pad").is_visible() and pg.locator("#clear").is_visible()
    ctx.close()
