// "Why?": the explain control under a prediction (pad and explorer). Listens for the page's
// `convscope:predicted` event ({model, input, result}), asks GET /api/models/NAME/explain for the
// model's options, runs POST /api/explain with progress (NDJSON), and shows the map over the
// input with an opacity slider and a legend, the deletion/insertion curves and the sanity check.
// Every server string reaches the page as text (lib.js), never as HTML.
import { t } from "./i18n.js";
import { el, fill, getJSON, pct, readJSON, sig3, svg } from "./lib.js";

const root = document.getElementById("why-panel");
let last = null; // the latest prediction: {model, input, result}
let opts = null; // the model's explain options
let running = null;

const ui = {
  method: el("select", { id: "why-method", "aria-label": t("method") },
    el("option", { value: "gradcam" }, t("Grad-CAM (exact, one run)")),
    el("option", { value: "occlusion" }, t("occlusion (a grey patch slid over the input)")),
    el("option", { value: "rise" }, t("RISE (random masks)"))),
  target: el("select", { id: "why-target", "aria-label": t("class to explain") }),
  layer: el("select", { id: "why-layer", "aria-label": t("Grad-CAM layer") }),
  patch: el("input", { id: "why-patch", type: "number", min: 1, "aria-label": t("patch size") }),
  stride: el("input", { id: "why-stride", type: "number", min: 1, "aria-label": t("stride") }),
  go: el("button", { id: "why-go", type: "button" }, t("Explain")),
  cost: el("p", { id: "why-cost", class: "status" }),
  progress: el("progress", { id: "why-progress", max: 1, value: 0, hidden: true }),
  status: el("p", { id: "why-status", class: "status", "aria-live": "polite" }),
  result: el("div", { id: "why-result", class: "why-result" }),
};
const layerBox = el("label", {}, t("layer"), " ", ui.layer);
const occBox = el("span", {}, el("label", {}, t("patch"), " ", ui.patch), " ", el("label", {}, t("stride"), " ", ui.stride));

function mount() {
  fill(root,
    el("h2", {}, t("Why this answer? Explain it")),
    el("p", { class: "note" }, t("Grad-CAM weighs a layer's maps by the gradient of the class score, computed exactly from this run's activations and the model file's weights. Occlusion and RISE hide parts of the input and watch the probability. Every map comes with its checks: deleting the pixels it ranks highest should make the probability fall faster than deleting pixels at random, and re-drawing the head's weights should change the map.")),
    el("div", { class: "why-controls" },
      el("label", {}, t("method"), " ", ui.method), el("label", {}, t("class"), " ", ui.target), layerBox, occBox, ui.go),
    ui.cost, ui.progress, ui.status, ui.result);
  root.hidden = false;
  for (const c of [ui.method, ui.patch, ui.stride, ui.layer]) c.addEventListener("change", showCost);
  ui.method.addEventListener("change", showControls);
  ui.go.addEventListener("click", run);
}

function grid(size, patch, stride) { return Math.floor((size - patch) / stride) + 1; }

function showControls() {
  const m = ui.method.value;
  layerBox.hidden = m !== "gradcam";
  occBox.hidden = m !== "occlusion";
}

function runsFor() {
  const m = ui.method.value;
  if (!opts) return null;
  if (m !== "occlusion") return opts.runs[m];
  const p = Number(ui.patch.value), s = Number(ui.stride.value);
  if (!(p >= 1 && s >= 1)) return null;
  return 1 + opts.check_runs + grid(opts.input[0], p, s) * grid(opts.input[1], p, s);
}

function showCost() {
  const runs = runsFor();
  if (runs == null) { ui.cost.textContent = ""; return; }
  const ms = last && last.result.timing_ms && last.result.timing_ms.inference;
  const cost = t("cost: {runs} images run ({checks} of them for the checks)", { runs, checks: opts.check_runs });
  const about = ms ? t("; at this model's last run ({ms} ms) about {s} s", { ms: ms.toFixed(1), s: ((runs * ms) / 1000).toFixed(1) }) : "";
  ui.cost.textContent = cost + about;
}

const loadOptions = (model) => getJSON(`/api/models/${encodeURIComponent(model)}/explain`);

document.addEventListener("convscope:predicted", async (e) => {
  const first = !last || last.model !== e.detail.model;
  last = e.detail;
  if (!root) return;
  if (root.hidden) mount();
  fill(ui.target, ...last.result.top_k.map((c, i) => el("option", { value: c.index },
    (i === 0 ? t("{label} ({pct}%), top-1", { label: c.label, pct: pct(c.probability) })
      : t("{label} ({pct}%)", { label: c.label, pct: pct(c.probability) })))));
  if (first) {
    try {
      opts = await loadOptions(last.model);
    } catch (err) {
      ui.status.textContent = err.message;
      return;
    }
    fill(ui.layer, ...opts.layers.map((n) => el("option", { value: n, selected: n === opts.default_layer }, n)));
    ui.patch.value = opts.patch.default;
    ui.patch.max = opts.patch.max;
    ui.stride.value = opts.stride.default;
    ui.stride.max = opts.stride.max;
    ui.go.disabled = !opts.layers.length;
    if (opts.error) ui.status.textContent = opts.error;
  }
  showControls();
  showCost();
});

async function run() {
  if (!last || !opts) return;
  if (running) running.abort();
  const ctrl = new AbortController();
  running = ctrl;
  const m = ui.method.value;
  const body = { ...last.input, model: last.model, method: m, target: Number(ui.target.value) };
  if (m === "gradcam") body.layer = ui.layer.value;
  if (m === "occlusion") { body.patch = Number(ui.patch.value); body.stride = Number(ui.stride.value); }
  ui.status.textContent = t("running…");
  ui.progress.hidden = false;
  ui.progress.value = 0;
  root.dataset.state = "running";
  try {
    const res = await fetch("/api/explain", {
      method: "POST", signal: ctrl.signal,
      headers: { "content-type": "application/json", accept: "application/x-ndjson" }, body: JSON.stringify(body),
    });
    if (!res.ok) await readJSON(res); // throws the server's message
    const result = await readStream(res);
    show(result);
    ui.status.textContent = t("done: {runs} images run; map {map} ms, checks {checks} ms", {
      runs: result.curves.runs, map: result.timing_ms.map.toFixed(0), checks: result.timing_ms.checks.toFixed(0) });
    root.dataset.state = "done";
  } catch (err) {
    if (err.name === "AbortError") return;
    ui.status.textContent = err.message;
    root.dataset.state = "error";
  } finally {
    if (running === ctrl) { running = null; ui.progress.hidden = true; }
  }
}

async function readStream(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (msg.progress) {
        ui.progress.max = msg.progress.total;
        ui.progress.value = msg.progress.done;
        ui.status.textContent = t("running: {done} of {total} images", msg.progress);
      } else if (msg.result) return msg.result;
      else if (msg.error) throw new Error(msg.error.message);
    }
    if (done) throw new Error(t("the answer ended early"));
  }
}

function loadImage(src) {
  return new Promise((ok, bad) => {
    const img = new Image();
    img.onload = () => ok(img);
    img.onerror = () => bad(new Error(t("an image could not be shown")));
    img.src = src;
  });
}

async function show(r) {
  const [base, heat] = await Promise.all([loadImage(last.result.input.image), loadImage(r.overlay)]);
  const size = 224;
  const canvas = el("canvas", { id: "why-overlay", width: heat.width, height: heat.height,
    class: "why-canvas", "aria-label": t("the map over the input") });
  canvas.style.width = `${size}px`;
  canvas.style.height = `${Math.round((size * heat.height) / heat.width)}px`;
  const opacity = el("input", { id: "why-opacity", type: "range", min: 0, max: 100, value: 55,
    "aria-label": t("map opacity") });
  const paint = () => {
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = 1;
    ctx.drawImage(base, 0, 0, canvas.width, canvas.height);
    ctx.globalAlpha = Number(opacity.value) / 100;
    ctx.drawImage(heat, 0, 0);
  };
  opacity.addEventListener("input", paint);
  paint();
  const vals = r.map.values.flat();
  const lo = Math.min(0, ...vals), hi = Math.max(...vals);
  const dims = { layer: r.layer, h: r.map.height, w: r.map.width, patch: r.patch, stride: r.stride };
  const what = r.method === "gradcam" ? t("Grad-CAM at {layer} ({h}×{w})", dims)
    : r.method === "occlusion" ? t("probability drop per patch ({h}×{w} positions, patch {patch}, stride {stride})", dims)
      : t("RISE saliency ({h}×{w})", dims);
  fill(ui.result,
    el("figure", { class: "why-fig" }, canvas,
      el("figcaption", {}, t("{what} for “{label}” ({pct}%)", { what, label: r.target.label, pct: pct(r.target.probability) })),
      el("label", {}, t("opacity"), " ", opacity), legend(lo, hi)),
    el("figure", { class: "why-fig" }, curves(r.curves, r),
      el("figcaption", {}, t("probability of the class as pixels are deleted (from the map's highest, or at random) or inserted into a blank (zero = mean) input"))),
    sanity(r));
}

function legend(lo, hi) {
  const c = el("canvas", { class: "why-legend", width: 160, height: 10, "aria-hidden": "true" });
  const ctx = c.getContext("2d");
  const g = ctx.createLinearGradient(0, 0, 160, 0);
  opts.colormap.forEach(([r, gg, b], i) => g.addColorStop(i / (opts.colormap.length - 1), `rgb(${r},${gg},${b})`));
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 160, 10);
  return el("p", { class: "legend", id: "why-legend" }, `${sig3(lo)} `, c, ` ${sig3(hi)}`);
}

function curves(c, r) {
  const W = 260, H = 160, L = 34, B = 22;
  const x = (f) => L + f * (W - L - 6), y = (p) => 6 + (1 - p) * (H - B - 6);
  const line = (ys, cls) => svg("polyline", { class: cls, fill: "none",
    points: ys.map((p, i) => `${x(c.fractions[i]).toFixed(1)},${y(p).toFixed(1)}`).join(" ") });
  const chart = svg("svg", { id: "why-curves", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": t("deletion and insertion curves") },
  svg("line", { x1: L, y1: y(0), x2: W - 6, y2: y(0), class: "axis" }),
  svg("line", { x1: L, y1: y(0), x2: L, y2: y(1), class: "axis" }),
  svg("text", { x: L - 4, y: y(1) + 4, "text-anchor": "end" }, "1"),
  svg("text", { x: L - 4, y: y(0) + 4, "text-anchor": "end" }, "0"),
  svg("text", { x: (L + W) / 2, y: H - 4, "text-anchor": "middle" }, t("fraction of pixels")),
  line(c.random, "c-random"), line(c.deletion, "c-deletion"), line(c.insertion, "c-insertion"));
  const key = el("ul", { class: "why-key" },
    el("li", { class: "c-deletion" }, t("deletion, AUC {auc} (lower is better)", { auc: sig3(r.deletion_auc) })),
    el("li", { class: "c-insertion" }, t("insertion, AUC {auc} (higher is better)", { auc: sig3(r.insertion_auc) })),
    el("li", { class: "c-random" }, t("random deletion, AUC {auc}", { auc: sig3(r.random_auc) })));
  return el("div", {}, chart, key);
}

function sanity(r) {
  const rho = r.sanity_rank_correlation;
  const verdict = rho == null ? t("undefined: one of the maps is constant")
    : Math.abs(rho) > 0.9 ? t("the map barely depends on the head's weights: be suspicious of it")
      : t("the map changes when the weights do, as an explanation should");
  return el("div", { class: "why-sanity", id: "why-sanity" },
    el("h3", {}, t("Sanity check (Adebayo et al., 2018)")),
    el("p", {}, t("Rank correlation between this map and the same method's map with the head's weights re-drawn:"), " ",
      el("strong", {}, rho == null ? "—" : rho.toFixed(3))),
    el("p", { class: "note" }, verdict));
}
