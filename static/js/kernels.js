// The kernels view: every convolution layer's filters, exactly the ONNX initializer (GET /kernels).
// A photo model's first layer as RGB tiles (each filter normalised to its own range), small layers
// (LeNet's C1 and C3) as grey grids of every slice, deeper layers as a grid of per-filter norms in
// which one filter opens into its slices. Seeded untrained weights are said to be random.
import { el, fill, fmt, getJSON } from "./lib.js";
import { t } from "./i18n.js";
import { decode } from "./maps.js";
import { rgb, tileCanvas, viridis } from "./heat.js";

// an answer's base64 `data` (maps.js decodes it to bytes) read as float32: little-endian, as every
// browser's typed arrays are on x86/ARM
const floats = (d) => new Float32Array(decode(d).buffer);

// the smallest and largest of data[at .. at+n): one filter's range
function extent(data, at, n) {
  let lo = Infinity, hi = -Infinity;
  for (let i = at; i < at + n; i++) { lo = Math.min(lo, data[i]); hi = Math.max(hi, data[i]); }
  return [lo, hi];
}

const grey = (v, lo, hi) => { const g = Math.round(((v - lo) / (hi - lo || 1)) * 255); return [g, g, g]; };

// slices of one filter (cin×k×k starting at `at`) as grey tiles, normalised over the whole filter
function greyTiles(data, at, cin, k) {
  const [lo, hi] = extent(data, at, cin * k * k);
  const tiles = [];
  for (let c = 0; c < cin; c++) {
    tiles.push(Array.from({ length: k }, (_, y) => Array.from({ length: k }, (_, x) => grey(data[at + (c * k + y) * k + x], lo, hi))));
  }
  return tiles;
}

function rgbTiles(data, cout, k) {
  const tiles = [];
  for (let f = 0; f < cout; f++) {
    const at = f * 3 * k * k;
    const [lo, hi] = extent(data, at, 3 * k * k);
    tiles.push(Array.from({ length: k }, (_, y) => Array.from({ length: k }, (_, x) =>
      [0, 1, 2].map((c) => Math.round(((data[at + (c * k + y) * k + x] - lo) / (hi - lo || 1)) * 255)))));
  }
  return tiles;
}

export function kernelsView(host, model) {
  const convs = model.layers.filter((l) => l.kind === "conv");
  if (!convs.length || !host) return;
  const select = el("select", { "aria-label": t("convolution layer") }, convs.map((l) => el("option", { value: l.name }, l.name)));
  const body = el("div", { class: "kernels-body" });
  const random = model.weights === "untrained"
    ? el("p", { class: "note" }, t("These weights are seeded random numbers (He initialisation), not learned: the filters are noise. Import trained weights to see edge and colour detectors."))
    : el("p", { class: "note" }, t("Weights: {w}.", { w: { trained: t("trained"), imported: t("imported") }[model.weights] || model.weights }));
  fill(host, el("label", {}, t("layer"), " ", select), random, body);
  const show = async () => {
    const name = select.value;
    const layer = convs.find((l) => l.name === name);
    fill(body, el("p", { class: "note" }, t("loading…")));
    try {
      const q = `/api/models/${encodeURIComponent(model.name)}/kernels?layer=${encodeURIComponent(name)}`;
      const [cout, cin, k] = [layer.output_shape[0], layer.input_shape[0] / (layer.groups || 1), layer.kernel[0]];
      const first = layer === convs[0] && cin === 3;
      if (first || cout * cin <= 16 * 16) {
        const d = await getJSON(q);
        const data = floats(d);
        if (first) {
          fill(body, el("p", { class: "note" }, t("{n} filters of 3×{k}×{k} shown as RGB, each filter normalised to its own min…max (so contrast, not size, is comparable).", { n: cout, k })),
            tileCanvas(rgbTiles(data, cout, k), k, k, { px: Math.max(3, Math.round(44 / k)), cols: 16 }));
        } else {
          const grids = [];
          for (let f = 0; f < cout; f++) grids.push(...greyTiles(data, f * cin * k * k, cin, k));
          fill(body, el("p", { class: "note" }, t("{n} filters (rows) × {c} input channels (columns) of {k}×{k}; grey, each filter scaled to its own min (black) … max (white).", { n: cout, c: cin, k })),
            tileCanvas(grids, k, k, { cols: cin === 1 ? cout : cin, px: Math.max(4, Math.round(40 / k)), gap: 4 }));
        }
        body.dataset.shape = d.shape.join(",");
        return;
      }
      const d = await getJSON(`${q}&norms_only=true`);
      const max = Math.max(...d.norms), min = Math.min(...d.norms);
      const open = el("div", { class: "filter-slices" });
      const cells = d.norms.map((n, f) => {
        const b = el("button", { type: "button", class: "norm", title: t("filter {f}: norm {v}", { f, v: fmt(n) }), "aria-label": t("filter {f}: norm {v}", { f, v: fmt(n) }) });
        const c = viridis(max > min ? (n - min) / (max - min) : 0);
        b.style.background = rgb(c);
        b.addEventListener("click", async () => {
          const one = await getJSON(`${q}&filter=${f}`);
          const data = floats(one);
          fill(open, el("p", { class: "note" }, t("filter {f} (norm {v}): its {c} slices of {k}×{k}, grey over the filter's own min…max", { f, v: fmt(n), c: cin, k })),
            tileCanvas(greyTiles(data, 0, cin, k), k, k, { cols: 32, px: Math.max(3, Math.round(18 / k)) }));
        });
        return b;
      });
      fill(body, el("p", { class: "note" }, t("{n} filters of {c}×{k}×{k}: too many to draw; each square is one filter's L2 norm, coloured from the smallest ({min}, dark) to the largest ({max}, bright). Click one to open its slices.", { n: cout, c: cin, k, min: fmt(min), max: fmt(max) })),
        el("div", { class: "norms" }, cells), open);
      body.dataset.shape = d.full_shape.join(",");
    } catch (err) {
      fill(body, el("p", { class: "note" }, err.message));
    }
  };
  select.addEventListener("change", show);
  show();
}
