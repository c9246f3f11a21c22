// Live predictions while the pen moves: one WebSocket to /ws/predict (the same body and answer as
// POST /predict), at most one request in flight, the newest drawing wins (a movement during a request
// is sent, as the whole current drawing, when its answer arrives). Falls back to POST /predict when the
// socket cannot be used. Each painted answer is a performance measure "pen-to-paint": from the oldest
// pen movement it is the first to include to its prediction painted (the answer's text, bars and map
// canvases written, in the task that received it; the browser shows them in its next frame), split into
// "pad-wait" (the movement waiting for the request before it), "pad-encode" (the drawing to a message),
// "pad-roundtrip" (sent to received; "pad-server": the server's own part of it), "pad-parse" (JSON), "pad-next" (sending the newer drawing, if any)
// and "pad-paint"; "pen-to-frame" ends at the next animation frame instead ("pad-frame": painted to it).
// `state.dataset.live` is "busy" while a change of the drawing has no answer yet, "settled" once the
// latest drawing's answer is shown (what scripts and tests wait for after the pen lifts).
import { postJSON } from "./lib.js";

export class Live {
  constructor(body, onResult, onError, state = document.body) {
    this.body = body; // () => the request body for the drawing as it is now
    this.onResult = onResult; // (answer, round-trip ms, the body it answers)
    this.onError = onError;
    this.inflight = false;
    this.pending = null; // time of the oldest movement not yet sent, or null
    this.sentAt = null; // time of the oldest movement the request in flight includes
    this.gen = 0;
    this.ws = null;
    this.queued = null;
    this.state = state;
    this.connect();
  }

  connect() {
    if (!("WebSocket" in window)) return;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/predict`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.queued) { const q = this.queued; this.queued = null; ws.send(q); }
    });
    ws.addEventListener("message", (e) => {
      const ta = performance.now();
      const res = JSON.parse(e.data);
      this.answer(res, ta, performance.now());
    });
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.ws = null; // until the reconnect: POST /predict
      this.queued = null;
      if (this.inflight) { // its answer will not come: send the drawing again
        this.inflight = false;
        if (this.pending === null || this.sentAt < this.pending) this.pending = this.sentAt;
      }
      setTimeout(() => this.connect(), 1000);
      this.kick();
    });
  }

  // A pen movement (or any change of the drawing) at time t (performance.now() clock).
  request(t = performance.now()) {
    this.state.dataset.live = "busy";
    if (this.pending === null || t < this.pending) this.pending = t;
    this.kick();
  }

  // Forget the drawing: answers in flight are dropped when they come.
  cancel() {
    this.gen++;
    this.pending = null;
    this.state.dataset.live = "settled";
  }

  kick() {
    if (this.inflight || this.pending === null) return;
    this.sentAt = this.pending;
    this.pending = null;
    this.inflight = true;
    this.myGen = this.gen;
    const tb = performance.now();
    performance.measure("pad-wait", { start: this.sentAt, end: tb });
    const body = this.body();
    this.sentBody = body;
    const text = JSON.stringify(body);
    this.sendAt = performance.now();
    performance.measure("pad-encode", { start: tb, end: this.sendAt });
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(text);
    } else if (this.ws && this.ws.readyState === WebSocket.CONNECTING) {
      this.queued = text; // sent on open (or, if it fails, again by POST)
    } else {
      this.post(body);
    }
  }

  post(body) {
    postJSON("/predict", body).then((res) => this.answer(res),
      (err) => this.answer({ error: { status: err.status || 0, code: err.code || "network", message: err.message } }));
  }

  // An answer (ta: when it came, tp: when it was parsed). The newest drawing, if it changed meanwhile, is sent
  // first, so that the server works on it while this answer is painted; then this answer is painted.
  answer(res, ta = performance.now(), tp = ta) {
    this.inflight = false;
    const start = this.sentAt, sendAt = this.sendAt, body = this.sentBody;
    const stale = this.myGen !== this.gen;
    this.kick();
    if (!stale) {
      const tk = performance.now();
      if (res.error) {
        this.onError(res.error);
      } else {
        this.onResult(res, ta - sendAt, body);
        const done = performance.now();
        const server = res.timing_ms && res.timing_ms.total; // of the roundtrip: the server's own work
        if (server >= 0) performance.measure("pad-server", { duration: server, end: ta });
        for (const [name, a, b] of [["pad-roundtrip", sendAt, ta], ["pad-parse", ta, tp], ["pad-next", tp, tk],
          ["pad-paint", tk, done], ["pen-to-paint", start, done]]) performance.measure(name, { start: a, end: b });
        // the frame that shows it: its animation frame starts after this task (style, layout, raster follow)
        requestAnimationFrame(() => {
          const f = performance.now();
          performance.measure("pad-frame", { start: done, end: f });
          performance.measure("pen-to-frame", { start, end: f });
        });
      }
    }
    if (!this.inflight && this.pending === null) this.state.dataset.live = "settled";
  }
}
