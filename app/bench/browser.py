"""The browser part of `convscope bench`: the drawing pad in real headless Chromium (Playwright), one long
continuous stroke, and what the page measured itself: "pen-to-paint" performance measures (from a pen movement
to its prediction painted; "pen-to-frame": to the animation frame after it) and their phases (static/js/live.js),
updates per second while drawing, and requests in flight as seen on the WebSocket's frames; beside the pad as it
is, its old paint path (every answer rebuilds every layer's canvases) as the baseline."""

from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from app.config import BUNDLED_MODELS_DIR

CHROMIUM = os.environ.get("CONVSCOPE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))], 2)


# The in-page pen: pointer events dispatched on #pad by a timer at `hz`, the same figure of eight. Playwright's
# mouse waits for a DevTools round trip per movement, which held its pen to ~18 movements/s here.
_PAGE_PEN = """async ([seconds, hz]) => {
  const pad = document.getElementById('pad'), r = pad.getBoundingClientRect(), n = Math.round(seconds * hz);
  const at = (i) => { const a = 2 * Math.PI * i / n;
    return { clientX: r.left + r.width / 2 + r.width * 0.3 * Math.sin(2 * a) / 2,
             clientY: r.top + r.height / 2 - r.height * 0.3 * Math.cos(a) }; };
  const fire = (type, i) => pad.dispatchEvent(new PointerEvent(type,
    { ...at(i), pointerId: 1, pointerType: 'mouse', buttons: 1, bubbles: true, isPrimary: true }));
  fire('pointerdown', 0);
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    fire('pointermove', i);
    const wait = t0 + i * 1000 / hz - performance.now();
    await new Promise((ok) => setTimeout(ok, Math.max(0, wait)));
  }
  return [t0, performance.now()];
}"""


PHASES = ("stroke", "wait", "encode", "roundtrip", "server", "parse", "next", "decode", "paint", "frame")


def draw_stroke(page: Any, url: str, model: str, seconds: float = 3.0, hz: float = 60.0,
                pen: str = "mouse", paint: str = "") -> dict[str, Any]:
    """On an open /draw page: draw one continuous stroke for ``seconds`` at ``hz`` movements per second and
    report what was painted before the pen lifted, the pen-to-paint latencies and the most requests in flight.
    ``pen``: "mouse" (Playwright's mouse, through the browser's input path) or "page" (pointer events
    dispatched in the page by a timer, at the full rate). ``paint="rebuild"``: the pad's old paint path (every
    answer rebuilds every layer's section and canvases, on screen or not), the baseline."""
    frames: list[str] = []

    sockets: list[str] = []

    def on_ws(ws: Any) -> None:
        sockets.append(ws.url)
        ws.on("framesent", lambda _: frames.append("sent"))
        ws.on("framereceived", lambda _: frames.append("received"))
        ws.on("close", lambda _: frames.append("close"))

    def is_post(req: Any) -> bool:  # the pad's fallback while its socket (re)connects
        return req.method == "POST" and req.url.endswith("/predict")

    page.on("websocket", on_ws)
    page.on("request", lambda req: frames.append("post") if is_post(req) else None)
    page.on("requestfinished", lambda req: frames.append("received") if is_post(req) else None)
    page.on("requestfailed", lambda req: frames.append("received") if is_post(req) else None)
    page.goto(url + f"/draw?model={model}" + (f"&paint={paint}" if paint else ""))
    page.wait_for_timeout(300)  # the socket opens
    box = page.locator("#pad").bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.3
    n = int(seconds * hz)
    if pen == "page":
        t0, t1 = page.evaluate(_PAGE_PEN, [seconds, hz])
    else:
        page.mouse.move(cx, cy - r)
        page.mouse.down()
        t0 = page.evaluate("performance.now()")
        start = time.perf_counter()
        for i in range(1, n + 1):  # a figure of eight, paced to the wall clock
            a = 2 * math.pi * i / n
            page.mouse.move(cx + r * math.sin(2 * a) / 2, cy - r * math.cos(a))
            wait = start + i / hz - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        t1 = page.evaluate("performance.now()")
    page.wait_for_timeout(50)  # the last answer's animation frame
    before_up = page.evaluate("""(t1) => performance.getEntriesByName('pen-to-paint')
        .filter(m => m.startTime + m.duration <= t1).map(m => [m.startTime, m.duration])""", t1)
    to_frame = page.evaluate("""(t1) => performance.getEntriesByName('pen-to-frame')
        .filter(m => m.startTime <= t1).map(m => m.duration)""", t1)
    prediction = page.text_content("#prediction") or ""
    parts = {k: page.evaluate("(k) => performance.getEntriesByName(k).map(m => m.duration)", f"pad-{k}")
             for k in PHASES}
    if pen == "page":
        page.eval_on_selector("#pad", "p => p.dispatchEvent(new PointerEvent('pointerup', "
                              "{pointerId: 1, pointerType: 'mouse', bubbles: true, isPrimary: true}))")
    else:
        page.mouse.up()
    page.wait_for_function("() => document.getElementById('pad').dataset.live === 'settled'", timeout=30000)
    while True:  # the socket's frame events reach us asynchronously: count them once they stop coming
        seen = len(frames)
        page.wait_for_timeout(300)
        if len(frames) == seen:
            break
    open_, most = 0, 0
    for f in frames:  # a socket that closes takes its unanswered request with it
        open_ = max(0, open_ - 1) if f == "close" else open_ + (1 if f in ("sent", "post") else -1)
        most = max(most, open_)
    lat = [d for _, d in before_up]
    return {
        "model": model, "pen": pen, "paint": paint or "in place",
        "window": "{width}x{height}".format(**page.viewport_size), "stroke_s": round((t1 - t0) / 1000, 2), "moves": n,
        "painted_before_up": len(before_up), "updates_per_s": round(len(before_up) / ((t1 - t0) / 1000), 1),
        "p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9), "p95_ms": pct(lat, 0.95),
        "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
        "to_frame_p50_ms": pct(to_frame, 0.5), "to_frame_p95_ms": pct(to_frame, 0.95), "latencies": lat,
        "ws_frames_sent": frames.count("sent"), "posts": frames.count("post"), "max_in_flight": most,
        "sockets": len(sockets), "prediction": prediction,
        **{f"{k}_p50_ms": pct(v, 0.5) for k, v in parts.items()},
    }


# (pen, paint, window): the pad as it is and its old paint path ("rebuild", the baseline), with the in-page pen
# and with Playwright's mouse; in a 1200x900 window the layers' maps are below the fold (the pad paints the
# maps on screen while the pen is down), in a 1200x2400 one all of them are on screen
VARIANTS = (("page", "", (1200, 900)), ("page", "rebuild", (1200, 900)), ("page", "", (1200, 2400)),
            ("page", "rebuild", (1200, 2400)), ("mouse", "", (1200, 900)))
COLUMNS = [("model", "model"), ("pen", "pen"), ("paint", "paint"), ("window", "window"),
           ("updates_per_s", "updates/s"), ("p50_ms", "p50"), ("p95_ms", "p95"), ("to_frame_p50_ms", "frame p50"),
           *[(f"{k}_p50_ms", k) for k in PHASES if k != "frame"], ("max_in_flight", "in flight"),
           ("strokes", "strokes")]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Several strokes of one variant -> one row: the median of each figure over the strokes."""
    out: dict[str, Any] = {k: rows[0][k] for k in ("model", "pen", "paint", "window", "moves")}
    for k, v in rows[0].items():
        if k not in out and k != "latencies" and isinstance(v, (int, float)):
            xs = [r[k] for r in rows if r.get(k) is not None]
            out[k] = round(statistics.median(xs), 2) if xs else None
    out["strokes"] = len(rows)
    out["prediction"] = rows[-1]["prediction"]
    return out


def run(models: tuple[str, ...] = ("lenet5", "lenet5-1998"), seconds: float = 3.0, rounds: int = 3) -> dict[str, Any]:
    """Start a server on loopback over the committed digit models, open Chromium, draw: per model, ``rounds``
    strokes of each variant, interleaved (a noisy machine slows them alike); one row per model and variant."""
    if not Path(CHROMIUM).exists():
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"skipped": f"playwright is not installed (the test extra): {exc}"}
    from app.bench.common import spawn as _spawn

    work = Path(tempfile.mkdtemp(prefix="convscope-browser-"))
    for f in BUNDLED_MODELS_DIR.glob("lenet5*"):  # the checkout's models/, or the wheel's bundled LeNet-5
        if f.suffix in (".onnx", ".json"):
            shutil.copy(f, work / f.name)
    proc, url, _ = _spawn(["app.cli", "serve", "--models-dir", str(work), "--log-level", "error"],
                          {"CONVSCOPE_EAGER": ",".join(models)})
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for model in models:
                strokes: dict[tuple[Any, ...], list[dict[str, Any]]] = {v: [] for v in VARIANTS}
                for _ in range(rounds):
                    for pen, paint, (w, h) in VARIANTS:
                        for warm in (True, False):  # a short warm-up stroke first (first paints, JIT), then measured
                            page = browser.new_page(viewport={"width": w, "height": h})
                            row = draw_stroke(page, url, model, min(1.0, seconds) if warm else seconds, pen=pen,
                                              paint=paint)
                            page.close()
                        strokes[(pen, paint, (w, h))].append(row)
                rows += [summary(r) for r in strokes.values()]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return {"pad": rows, "painted": "the answer's prediction text, bars and on-screen map canvases written, in "
            "the task that received it (p50); 'frame': to the start of the next animation frame, which shows them"}
