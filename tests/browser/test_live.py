"""The pad live while drawing, in real Chromium: a long continuous stroke paints several predictions before
the pen lifts, over WS /ws/predict, with never more than one request in flight."""

from __future__ import annotations

import pytest

from app.bench.browser import draw_stroke

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("model", ["lenet5", "lenet5-1998"])
def test_long_stroke_paints_predictions_before_the_pen_lifts(server: str, page, model: str) -> None:
    row = draw_stroke(page, server, model, seconds=2.5)
    assert row["painted_before_up"] >= 5, str(row)
    assert row["max_in_flight"] == 1, str(row)  # counted on the socket's frames (and POSTs while it reconnects)
    assert row["ws_frames_sent"] + row["posts"] >= row["painted_before_up"], str(row)
    assert row["ws_frames_sent"] >= row["posts"], str(row)  # the socket carries the stroke
    assert row["prediction"][:1].isdigit(), str(row)  # the digit leads even when the pad doubts it ("3?")
    assert page.evaluate("performance.getEntriesByName('pen-to-paint').length") >= row["painted_before_up"]
    assert page.console_errors == []
    print(row)


def test_pad_chooser_switches_model(server: str, page) -> None:
    page.goto(server + "/draw?model=lenet5")
    page.select_option("#model", "lenet5-1998")
    page.wait_for_url("**/draw?model=lenet5-1998")
    assert page.get_attribute("#pad", "data-model") == "lenet5-1998"
    assert page.console_errors == []
