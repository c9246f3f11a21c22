// The unit panel's arithmetic: patch, kernel and products per input channel as heat grids, the sum, the bias,
// the pre-activation, ReLU (and LRN), and the value; for max pooling the window and its winner; for digit
// models the nine MNIST test images that excite the channel most (computed once, with a progress bar).
import { el, fill, fmt, getJSON } from "./lib.js";
import { t } from "./i18n.js";
import { heatGrid } from "./heat.js";

const SHOWN = 6; // input channels drawn as grids (largest partial sums first); the rest as a list

const eq = (...parts) => el("p", { class: "eq" }, ...parts);

function conv(host, d, s) {
  const cin = d.patch.length;
  const flat = (a) => a.flat(2);
  const pm = Math.max(...flat(d.patch).map(Math.abs), 1e-12);
  const km = Math.max(...flat(d.kernel).map(Math.abs), 1e-12);
  const qm = Math.max(...flat(d.products).map(Math.abs), 1e-12);
  const rows = d.partial_sums.slice(0, SHOWN).map((p) => {
    const i = p.channel - d.reads_channels[0];
    const patch = d.patch[i].map((row, a) => row.map((v, b) => (d.inside[a][b] ? v : null)));
    return el("div", { class: "chan-row", dataset: { channel: p.channel } },
      el("div", { class: "chan-label" }, t("{layer} channel {c}", { layer: d.reads, c: p.channel }), el("br"),
        t("partial sum {v}", { v: fmt(p.sum) })),
      heatGrid(patch, { mode: "div", lo: -pm, hi: pm, caption: t("input patch") }),
      el("span", { class: "op" }, "×"),
      heatGrid(d.kernel[i], { mode: "div", lo: -km, hi: km, caption: t("kernel") }),
      el("span", { class: "op" }, "="),
      heatGrid(d.products[i], { mode: "div", lo: -qm, hi: qm, caption: t("products") }));
  });
  const k = d.kernel[0].length;
  const parts = [
    el("p", { class: "note" }, t("reads {layer} channels {lo}…{hi}", { layer: d.reads, lo: d.reads_channels[0], hi: d.reads_channels[1] - 1 }),
      d.groups > 1 ? ` ${t("only (group {g} of {n}: a grouped convolution reads just its group's channels)", { g: d.reads_channels[0] / cin + 1, n: d.groups })}` : "",
      "; ", t("{c}×{k}×{k} = {n} products. Padding cells (hatched) are zeros. Colours: blue negative, red positive.", { c: cin, k, n: cin * k * k })),
    ...rows];
  if (cin > SHOWN) {
    const max = Math.max(...d.partial_sums.map((p) => Math.abs(p.sum)), 1e-12);
    const chLabel = t("ch");
    const list = el("ol", { class: "partials" }, d.partial_sums.slice(0, 32).map((p) => {
      const bar = el("span", { class: ["pbar", p.sum < 0 ? "neg" : ""] });
      bar.style.width = `${(Math.abs(p.sum) / max) * 100}%`;
      return el("li", {}, el("span", { class: "pch" }, `${chLabel} ${p.channel}`), el("span", { class: "pwrap" }, bar), el("span", { class: "pval" }, fmt(p.sum)));
    }));
    parts.push(el("h5", {}, t("Per-channel partial sums, largest magnitude first ({drawn} drawn above, {listed} of {c} listed)", { drawn: SHOWN, listed: Math.min(32, cin), c: cin })), list,
      cin > 32 ? el("p", { class: "note" }, t("… and {more} more channels; all {c} add up to the sum below.", { more: cin - 32, c: cin })) : null);
  }
  if (d.batch_norm) {
    const bn = d.batch_norm;
    parts.push(el("p", { class: "note bn" }, t("Batch norm is folded into this kernel and bias, as onnxruntime runs it: kernel = conv weights × γ/√(σ²+ε) = × {scale}; bias = (b − μ)·γ/√(σ²+ε) + β with γ {gamma}, β {beta}, μ {mean}, σ² {var}.",
      { scale: fmt(bn.scale), gamma: fmt(bn.gamma), beta: fmt(bn.beta), mean: fmt(bn.mean), var: fmt(bn.var) })));
  }
  parts.push(
    eq(t("sum of all products"), " = ", el("b", { class: "v-sum" }, fmt(d.sum))),
    eq("+ ", t("bias"), " ", el("b", { class: "v-bias" }, fmt(d.bias)), " = ", t("pre-activation"), " ", el("b", { class: "v-pre" }, fmt(d.pre_activation))));
  let prev = d.pre_activation;
  for (const st of d.steps) {
    if (st.op === "Relu") parts.push(eq("ReLU: max(0, ", fmt(d.pre_activation), ") = ", el("b", { class: "v-value" }, fmt(st.value))));
    // the 1998 LeNet-5's squashing 1.7159·tanh(2a/3), as its graph runs it: × constant, tanh, × constant
    if (st.op === "Mul") parts.push(eq(fmt(prev), " × ", fmt(st.factor), " = ", el("b", { class: "v-step" }, fmt(st.value))));
    if (st.op === "Tanh") parts.push(eq("tanh(", fmt(prev), ") = ", el("b", { class: "v-step" }, fmt(st.value))));
    prev = st.value;
    if (st.op === "LRN") {
      parts.push(eq(t("LRN over channels {lo}…{hi}", { lo: st.channels[0], hi: st.channels[1] }),
        `: v / (${st.bias} + ${st.alpha}/${st.size} · ${fmt(st.square_sum)})^${st.beta} = `,
        el("b", { class: "v-lrn" }, fmt(st.value))));
    }
  }
  parts.push(mapLine(d, s));
  fill(host, ...parts);
}

function mapLine(d, s) {
  const shown = s.f > 1 ? t("(the map cell shows the average of {f}×{f} units: {v})", { f: s.f, v: fmt(s.mapValue) })
    : t("(the map's 8-bit colour stands for {v})", { v: fmt(s.mapValue) });
  return eq(t("the layer's output here, from onnxruntime:"), " ", el("b", { class: "v-output" }, fmt(d.output)), " ", shown);
}

function pool(host, d, s) {
  fill(host,
    el("p", { class: "note" }, t("max pooling reads {layer} channel {c}: a {kh}×{kw} window from row {top}, column {left} (stride {s}, padding {p}; padding cells never win).",
      { layer: d.reads, c: s.channel, kh: d.window.length, kw: d.window[0].length, top: d.window_at[0], left: d.window_at[1], s: d.stride[0], p: d.padding[0] })),
    heatGrid(d.window, { mode: "seq", mark: d.argmax, caption: t("window (the winner outlined)"), showText: d.window.length <= 5 }),
    eq(t("winner at ({i}, {j}) = max", { i: d.argmax[0], j: d.argmax[1] }), " = ", el("b", { class: "v-value" }, fmt(d.value))),
    mapLine(d, s));
}

export function renderArithmetic(host, d, s) {
  (d.kind === "pool" ? pool : conv)(host, d, s);
}

// The nine inputs that excite a channel most: MNIST test images for digit models (computed once, with a
// progress bar), places in the bundled sample photos for photo models with trained weights.
const EXAMPLES = {
  digits: {
    head: (s) => t("What excites {layer} channel {c} most: nine MNIST test images (their receptive-field crops), highest first", { layer: s.layer, c: s.channel }),
    data: (e) => ({ index: e.mnist_index }),
    alt: (e) => t("MNIST test image {i} (a {d})", { i: e.mnist_index, d: e.label }),
    caption: (e) => `#${e.mnist_index} (${e.label}): ${fmt(e.value)}`,
  },
  photos: {
    head: (s) => t("What excites {layer} channel {c} most: the nine strongest places in the sample photos (their receptive-field crops), highest first", { layer: s.layer, c: s.channel }),
    data: (e) => ({ sample: e.sample }),
    alt: (e) => t("{sample} at row {y}, column {x}", { sample: e.sample, y: e.y, x: e.x }),
    caption: (e) => `${e.sample} (${e.y}, ${e.x}): ${fmt(e.value)}`,
  },
};

export async function renderExamples(host, api, s, photos = false) {
  const kind = EXAMPLES[photos ? "photos" : "digits"], head = kind.head(s);
  let done = false;
  if (photos) {
    fill(host, el("h5", {}, head), el("p", { class: "note" }, t("running the sample photos…")));
  } else {
    const bar = el("progress", { max: 10000, value: 0, "aria-label": t("computing over the MNIST test set") });
    fill(host, el("h5", {}, head), bar, el("span", { class: "note" }, " ", t("computing once over the 10,000 MNIST test images…")));
    (async () => {
      while (!done) {
        try {
          const p = await getJSON(`${api}/examples/progress`);
          if (p.done != null) bar.value = p.done;
        } catch { /* the answer below says what went wrong */ }
        await new Promise((ok) => setTimeout(ok, 250));
      }
    })();
  }
  try {
    const data = await getJSON(`${api}/examples?layer=${encodeURIComponent(s.layer)}&channel=${s.channel}`);
    fill(host, el("h5", {}, head),
      el("div", { class: "examples" }, data.map((e) => el("figure", { class: "example", dataset: kind.data(e) },
        el("img", { src: e.crop, alt: kind.alt(e), width: 56, height: 56 }),
        el("figcaption", {}, kind.caption(e))))));
  } catch (err) {
    fill(host, el("p", { class: "note" }, err.message));
  } finally {
    done = true;
  }
}
