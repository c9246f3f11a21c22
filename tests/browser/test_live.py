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


_PIXELS = """() => [...document.querySelectorAll('#layers canvas.map')].map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
  return [c.closest('section').dataset.layer, c.dataset.channel, c.width, c.height, c.style.width, h];
})"""


def test_maps_repainted_in_place_match_the_rebuilt_ones(server: str, browser) -> None:
    """The pad repaints its map canvases in place (and while the pen is down only the layers on screen); after
    the pen lifts every canvas holds the same pixels as when each answer rebuilt them all (?paint=rebuild),
    with each map's own colour scale and with one scale per layer."""
    seen = {}
    for paint in ("", "rebuild"):
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        row = draw_stroke(pg, server, "lenet5", seconds=1.0, pen="page", paint=paint)
        assert row["painted_before_up"] >= 2, str(row)
        own = pg.evaluate(_PIXELS)
        pg.check("#shared-scale")
        shared = pg.evaluate(_PIXELS)
        seen[paint] = (pg.evaluate("document.getElementById('pad').toDataURL()"), own, shared,
                       pg.text_content("#prediction"))
        if not paint:  # every phase of the in-place path was measured
            assert all(row[f"{k}_p50_ms"] is not None for k in ("wait", "encode", "roundtrip", "server", "parse",
                                                                 "decode", "paint")), str(row)
        assert errors == []
        ctx.close()
    assert len(seen[""][1]) == 47  # LeNet-5: 6 + 6 + 16 + 16 + 1 + 1 + 1 canvases
    assert seen[""][1] != seen[""][2]  # the shared scale changed the pictures
    assert seen[""] == seen["rebuild"]
