// The drawing pad: pointer strokes -> live predictions over WS /ws/predict (live.js) with the chosen digit
// model -> bars, input, every layer's maps.
import { t } from "./i18n.js";
import { el, pct } from "./lib.js";
import { kernelsView } from "./kernels.js";
import { Live } from "./live.js";
import { layerSection, largestSide, paintOpts } from "./layers.js";
import { decode, paintMaps, statsText } from "./maps.js";
import { createUnits } from "./unit.js";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const pen = document.getElementById("pen");
const statusEl = document.getElementById("status");
const prediction = document.getElementById("prediction");
const seen = document.getElementById("seen");
const bars = document.getElementById("bars");
const layersEl = document.getElementById("layers");

const model = pad.dataset.model || "lenet5";
const chooser = document.getElementById("model");
if (chooser) chooser.addEventListener("change", () => { location.search = `?model=${encodeURIComponent(chooser.value)}`; });

let strokes = [];
let current = null;
const units = createUnits({ modelName: model }); // click or keyboard-select a map cell; follows convscope:predicted

const barEls = [];
for (let d = 0; d < 10; d++) {
  barEls.push({ fill: el("span", { class: "fill", id: `bar-${d}` }), pct: el("span", { class: "pct", id: `pct-${d}` }) });
  bars.append(el("div", { class: "bar-row" }, el("span", { class: "digit" }, d),
    el("span", { class: "bar" }, barEls[d].fill), barEls[d].pct));
}

function redraw() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#fff";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    ctx.lineWidth = s.width;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (s.points.length === 1) ctx.lineTo(s.points[0][0] + 0.1, s.points[0][1]);
    ctx.stroke();
  }
}

// The pad's place on the page, read once per stroke (reading it per movement, after the last answer changed
// the page, would force a layout on every movement); a scroll or resize forgets it.
let padRect = null;
const forget = () => { padRect = null; };
addEventListener("scroll", forget, { passive: true, capture: true });
addEventListener("resize", forget);

function point(e) {
  const r = padRect || (padRect = pad.getBoundingClientRect());
  return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
}

// the newest piece of the stroke only (round caps: the pieces join like the whole path); redraw() repaints all
function drawSegment(s) {
  const n = s.points.length, [x, y] = s.points[n - 1], [px, py] = n > 1 ? s.points[n - 2] : [x - 0.1, y];
  ctx.strokeStyle = "#fff";
  ctx.lineCap = "round";
  ctx.lineWidth = s.width;
  ctx.beginPath();
  ctx.moveTo(px, py);
  ctx.lineTo(x, y);
  ctx.stroke();
}

// The pad's performance measures (several per answer, read by `convscope bench` and the tests) would grow
// without bound over a long session: a stroke that finds more than MAX_MEASURES starts them afresh.
const MAX_MEASURES = 20000;
pad.addEventListener("pointerdown", (e) => {
  if (performance.getEntriesByType("measure").length > MAX_MEASURES) performance.clearMeasures();
  pad.setPointerCapture(e.pointerId);
  padRect = null;
  current = { width: Number(pen.value), points: [point(e)] };
  strokes.push(current);
  drawSegment(current);
  e.preventDefault();
});
// Movements as they come (pointerrawupdate: not held for the next animation frame like pointermove, so the
// request leaves up to a frame earlier), and pointermove for what rawupdate did not deliver (synthetic events,
// browsers without it). A pointermove no newer than the last raw update carries nothing new.
let lastRaw = -Infinity;
function move(e) {
  if (!current) return;
  if (e.type === "pointerrawupdate") lastRaw = e.timeStamp;
  else if (e.timeStamp <= lastRaw) return;
  current.points.push(point(e));
  drawSegment(current);
  performance.measure("pad-stroke", { start: e.timeStamp, end: performance.now() });
  live.request(e.timeStamp);
}
if ("onpointerrawupdate" in window) pad.addEventListener("pointerrawupdate", move);
pad.addEventListener("pointermove", move);
const end = (e) => {
  if (!current) return;
  current = null;
  redraw(); // the whole drawing as one path per stroke: the answer after the pen lifts reads exactly that
  live.request(e.timeStamp);
};
pad.addEventListener("pointerup", end);
pad.addEventListener("pointercancel", end);

document.getElementById("clear").addEventListener("click", () => {
  strokes = [];
  redraw();
  reset(t("draw something"));
});
document.getElementById("undo").addEventListener("click", () => {
  strokes.pop();
  redraw();
  strokes.length ? live.request() : reset(t("draw something"));
});
pad.addEventListener("keydown", (e) => {
  if (e.key === "Escape" || e.key === "Delete") document.getElementById("clear").click();
});

function reset(msg) {
  live.cancel();
  prediction.textContent = "";
  unsureEl.hidden = true;
  statusEl.textContent = msg;
  seen.removeAttribute("src");
  for (let d = 0; d < 10; d++) {
    barEls[d].fill.style.transform = "scaleX(0)";
    barEls[d].pct.textContent = "";
  }
  layersEl.replaceChildren();
  view = null;
}

const live = new Live(
  () => {
    // while the pen is down, the maps of the layers on screen only (none: statistics only); after it, all
    const some = current && view && watcher && !REBUILD ? [...onScreen] : null;
    return { model, image: pad.toDataURL("image/png"), top_k: 10, activations: some && !some.length ? "summary" : "maps",
      map_size: 32, ...(some && some.length ? { layers: some } : {}) };
  },
  (res, ms, body) => {
    show(res);
    // while the pen moves, the prediction, bars and maps only; the answer after it lifts also updates the
    // status line (a live region) and the panels that follow the prediction (Why?, a selected unit)
    if (current || !res.layers.every((l) => l.maps)) return;
    document.dispatchEvent(new CustomEvent("convscope:predicted", { detail: { model, input: { image: body.image }, result: res } }));
    statusEl.textContent = t("{ms} ms (inference {inf} ms)", { ms: ms.toFixed(0), inf: res.timing_ms.inference.toFixed(1) });
  },
  (err) => {
    prediction.textContent = "";
    unsureEl.hidden = true;
    statusEl.textContent = err.message;
  },
  pad,
);

// sizes proportional to the real maps (the largest map of the answer sets the scale); optional one scale per layer
const sharedBox = document.getElementById("shared-scale");
// the box recolours the canvases in place (what each shows now): an open unit panel stays open
sharedBox.addEventListener("change", () => {
  for (const v of view ? view.layers.values() : []) if (v.shown && !v.data) paintLayer(v, v.shown);
});

// "Not sure" (issue 11). LeNet-5 was trained with label smoothing, so even a clean digit tops out near 95%:
// confidence alone cannot tell a letter from a digit. On MNIST's 10,000 test digits, "top probability below 80%
// or entropy above 1 bit" flags 39 of the 49 errors and 1.6% of the right answers; the answers left are 99.90%
// right (99.51% overall; scripts/unsure_rule.py). Too little ink: strokes shorter in all than a tenth of the pad's side (a dot, a tap).
const UNSURE = { minProb: 0.8, maxBits: 1.0, minInk: 0.1 };
const unsureEl = document.getElementById("unsure");

function inkLength() {
  let n = 0;
  for (const s of strokes) for (let i = 1; i < s.points.length; i++) n += Math.hypot(s.points[i][0] - s.points[i - 1][0], s.points[i][1] - s.points[i - 1][1]);
  return n;
}

// null when the answer stands, otherwise why it does not
function doubt(res) {
  const top = res.top_k[0], p = pct;
  if (inkLength() < UNSURE.minInk * pad.width) return t("Too little ink for a digit (a dot or a tap): the network would say {label} at {p}%, but that means nothing.", { label: top.label, p: p(top.probability) });
  if (top.probability < UNSURE.minProb) return t("The best guess, {label}, has only {p}% (below {min}%).", { label: top.label, p: p(top.probability), min: UNSURE.minProb * 100 });
  const bits = -res.top_k.reduce((h, k) => h + (k.probability > 0 ? k.probability * Math.log2(k.probability) : 0), 0);
  if (bits > UNSURE.maxBits) return t("The probabilities are spread out: {h} bits of entropy (above {max}); the best guess is {label}.", { h: bits.toFixed(2), max: UNSURE.maxBits, label: top.label });
  return null;
}

// The layers' sections and map canvases are kept while the answers keep the same layers and shapes: a new
// answer repaints the canvases in place. While the pen is down only the sections on screen are painted (the
// others when they scroll into view); an answer after the pen lifted paints them all.
// `?paint=rebuild` keeps the old way (every answer rebuilds every section and canvas): the bench's baseline.
const REBUILD = new URLSearchParams(location.search).get("paint") === "rebuild";
let view = null; // { key, layers: Map name -> { sec, stats, painter, data (the answer not yet painted), shown (the one painted) } }
const onScreen = new Set();
const watcher = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  for (const e of entries) {
    const name = e.target.dataset.layer;
    if (e.isIntersecting) onScreen.add(name); else onScreen.delete(name);
    const v = view && view.layers.get(name);
    if (e.isIntersecting && v && v.data) paintLayer(v, v.data);
  }
}) : null;

function paintLayer(v, l, bytes) {
  v.stats.textContent = statsText(l);
  v.painter.paint(l.maps, sharedBox.checked ? [l.min, l.max] : null, bytes);
  v.shown = l;
  v.data = null;
}

function build(res, key) {
  watcher?.disconnect();
  onScreen.clear();
  view = { key, layers: new Map() };
  const frag = document.createDocumentFragment();
  const largest = largestSide(res.layers.map((l) => l.shape));
  for (const l of res.layers) {
    const { sec, stats, grid } = layerSection(l);
    const painter = paintMaps(grid, l.maps, { label: t("map"), ...paintOpts(l, { largest, shared: sharedBox.checked, digits: true }),
      decorate: units.decorate(l.name, l.maps) });
    frag.append(sec);
    view.layers.set(l.name, { sec, stats, painter, data: null, shown: l });
    watcher?.observe(sec);
  }
  layersEl.replaceChildren(frag);
}

function show(res) {
  const whole = res.layers.every((l) => l.maps);
  const top = res.top_k[0];
  const why = doubt(res);
  // the digit always leads (scripts read it); a doubted answer is greyed, marked "?" and said why
  prediction.textContent = why ? `${top.label}?` : top.label;
  prediction.parentElement.classList.toggle("not-sure", Boolean(why));
  if (unsureEl.hidden !== !why) unsureEl.hidden = !why;
  if (why || unsureEl.childNodes.length) unsureEl.replaceChildren(...(why ? [el("strong", {}, t("not sure")), " ", why] : []));
  if (seen.getAttribute("src") !== res.input.image) seen.src = res.input.image;
  const probs = new Array(10).fill(0);
  for (const t of res.top_k) probs[t.index] = t.probability;
  probs.forEach((p, d) => {
    const text = `${pct(p)}%`, row = barEls[d];
    row.fill.classList.toggle("best", d === top.index);
    if (row.pct.textContent === text) return; // unchanged: no style or layout work
    row.fill.style.transform = `scaleX(${p})`; // the compositor animates it: no layout
    row.pct.textContent = text;
  });
  const key = res.layers.map((l) => `${l.name} ${l.shape}`).join("|");
  if (REBUILD || !view || view.key !== key || !layersEl.firstChild) {
    if (whole) build(res, key); else if (view) { layersEl.replaceChildren(); view = null; }
    return;
  }
  // decode first, then paint (two phases the bench reports apart)
  const all = !current || !watcher; // the pen is up: everything; while drawing: what is on screen
  const todo = [];
  for (const l of res.layers) {
    const v = view.layers.get(l.name);
    if (!l.maps) continue; // not asked for while drawing (off screen): its last maps stay until the next answer
    if (!v.painter.fits(l.maps)) { if (whole) build(res, key); return; }
    if (all || onScreen.has(l.name)) todo.push([v, l]); else v.data = l;
  }
  const t0 = performance.now();
  const bytes = todo.map(([, l]) => decode(l.maps));
  performance.measure("pad-decode", { start: t0, end: performance.now() });
  todo.forEach(([v, l], i) => paintLayer(v, l, bytes[i]));
}

redraw();
units.model.then((m) => kernelsView(document.getElementById("kernels"), m)); // the detail the unit panel fetched
