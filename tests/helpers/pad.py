"""Draw a scripted digit on the pad (#pad) with the mouse, as a student would."""

from __future__ import annotations

from typing import Any

from tests.helpers.drawn_digits import TEMPLATES


def draw(page: Any, digit: int, scale: float = 0.7) -> None:
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    size = box["width"] * scale
    ox = box["x"] + (box["width"] - size) / 2
    oy = box["y"] + (box["height"] - size) / 2
    for stroke in TEMPLATES[digit]:
        x, y = stroke[0]
        page.mouse.move(ox + x * size, oy + y * size)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(ox + x * size, oy + y * size, steps=2)
        page.mouse.up()
    # the pad predicts while the pen moves: wait for the answer to the whole drawing, not part of it
    page.wait_for_function("() => document.getElementById('pad').dataset.live === 'settled'", timeout=15000)
