// Inside one unit: select any cell of any activation map (click, or focus a map and use the arrow keys +
// Enter) -> its receptive field drawn on the input the network saw, a slider (or hover) walking the box
// across the layer, the arithmetic of the activation (POST /unit) and, for digit models, the MNIST test
// images that excite its channel most. Pages call createUnits() and hand decorate() to paintMaps(); the
// panel follows each `convscope:predicted` event the page dispatches after painting its maps.
import { el, fill, fmt, getJSON, postJSON } from "./lib.js";
import { t } from "./i18n.js";
import { renderArithmetic, renderExamples } from "./unitmath.js";

const css = el("link", { rel: "stylesheet", href: "/static/css/unit.css" });
document.head.append(css);

// The API's formula (app/units/rf.py): top = start + y*jump - size/2, bottom = top + size - 1.
export function rfBox(rf, y, x) {
  const top = Math.round(rf.start + y * rf.jump - rf.size / 2), left = Math.round(rf.start + x * rf.jump - rf.size / 2);
  return [top, left, top + rf.size - 1, left + rf.size - 1];
}

// model: the model's detail (GET /api/models/NAME) where the page already has it, or a promise of it;
// without it the panel fetches it once.
export function createUnits({ modelName, model = null }) {
  const api = `/api/models/${encodeURIComponent(modelName)}`;
  const modelP = Promise.resolve(model || getJSON(api));
  const panel = el("section", { class: "unit-panel", id: "unit-panel", "aria-label": t("inside one unit"), hidden: true });
  const cursor = el("div", { class: "cell-cursor", hidden: true });
  const readout = el("div", { class: "cell-readout", id: "cell-readout", role: "status", "aria-live": "polite", hidden: true });
  document.body.append(cursor, readout);
  let sel = null; // {layer, channel, y, x, my, mx, f, mapValue}
  let input = null; // the request body of the input the maps came from ({image} or {pixels})
  let seen = null; // data URL of the input image the network saw
  let busy = false, again = null; // a request in flight; what to load once it ends

  function place(cv, h, w, cy, cx, cols = w) {
    const r = cv.getBoundingClientRect();
    if (h === 1 && cols < w) { // a vector drawn as a wrapped grid: unit cx sits at row cx / cols
      h = Math.ceil(w / cols);
      [cy, cx, w] = [Math.floor(cx / cols), cx % cols, cols];
    }
    const cw = r.width / w, ch = r.height / h;
    cursor.style.left = `${r.left + window.scrollX + cx * cw - 1}px`;
    cursor.style.top = `${r.top + window.scrollY + cy * ch - 1}px`;
    cursor.style.width = `${Math.max(cw, 3) + 2}px`;
    cursor.style.height = `${Math.max(ch, 3) + 2}px`;
    cursor.hidden = false;
    readout.style.left = `${r.left + window.scrollX}px`;
    readout.style.top = `${r.bottom + window.scrollY + 2}px`;
  }

  // paintMaps hook: makes one map canvas selectable by mouse and keyboard
  function decorate(layerName, maps) {
    return (cv, { channel, h, w, valueAt, cols = w }) => {
      const wrapped = h === 1 && cols < w; // a vector in rows of `cols` units (maps.js)
      let cy = 0, cx = 0;
      cv.tabIndex = 0;
      cv.dataset.layer = layerName;
      cv.setAttribute("role", "button");
      cv.setAttribute("aria-label", t("{layer} channel {c}: arrow keys move over its cells, Enter opens one", { layer: layerName, c: channel }));
      const say = () => {
        const v = valueAt(cy, cx);
        readout.textContent = h === 1 ? t("{layer} unit {x}: {v}", { layer: layerName, x: cx, v: fmt(v) })
          : t("{layer} ch {c} (y {y}, x {x}): {v}", { layer: layerName, c: channel, y: cy, x: cx, v: fmt(v) });
        readout.hidden = false;
        place(cv, h, w, cy, cx, cols);
      };
      const cell = (e) => {
        const r = cv.getBoundingClientRect();
        if (wrapped) {
          const rows = Math.ceil(w / cols);
          const gy = Math.min(rows - 1, Math.floor(((e.clientY - r.top) / r.height) * rows));
          const gx = Math.min(cols - 1, Math.floor(((e.clientX - r.left) / r.width) * cols));
          return [0, Math.min(w - 1, gy * cols + gx)];
        }
        return [Math.min(h - 1, Math.floor(((e.clientY - r.top) / r.height) * h)),
          Math.min(w - 1, Math.floor(((e.clientX - r.left) / r.width) * w))];
      };
      cv.addEventListener("click", (e) => {
        [cy, cx] = cell(e);
        say(); // the focus (on mousedown) announced the old cell; say the clicked one
        select(cv, layerName, maps, channel, h, cy, cx, valueAt(cy, cx));
      });
      cv.addEventListener("mousemove", (e) => {
        if (sel && sel.layer === layerName && h > 1) walkTo(...cell(e).map((v) => v * (maps.downsample || 1)));
      });
      cv.addEventListener("mouseleave", () => { if (sel && sel.layer === layerName) walkTo(sel.y, sel.x); });
      cv.addEventListener("focus", say);
      cv.addEventListener("blur", () => { cursor.hidden = true; readout.hidden = true; });
      cv.addEventListener("keydown", (e) => {
        const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
        if (moves[e.key]) {
          cy = Math.max(0, Math.min(h - 1, cy + moves[e.key][0]));
          cx = Math.max(0, Math.min(w - 1, cx + moves[e.key][1] + (wrapped ? moves[e.key][0] * cols : 0)));
          say();
          e.preventDefault();
        } else if (e.key === "Enter" || e.key === " ") {
          select(cv, layerName, maps, channel, h, cy, cx, valueAt(cy, cx));
          e.preventDefault();
        }
      });
    };
  }

  async function select(cv, layerName, maps, channel, h, my, mx, mapValue) {
    const model = await modelP;
    const layer = model.layers.find((l) => l.name === layerName);
    const shape = layer.output_shape || [];
    const f = maps.downsample || 1;
    let y = 0, x = 0, c = channel;
    if (h === 1) { // a vector strip: the x of the strip is the unit (the channel of a C×1×1 map)
      c = mx;
    } else {
      y = Math.min(my * f + (f >> 1), shape[1] - 1);
      x = Math.min(mx * f + (f >> 1), shape[2] - 1);
    }
    sel = { layer: layerName, kind: layer.kind, channel: c, y, x, my, mx, f, mapValue, vector: h === 1, shape };
    cv.closest("section.layer")?.append(panel);
    panel.hidden = false;
    await load(true);
  }

  async function load(withRf) {
    if (!sel || !input) return;
    if (busy) { again = (again || false) || withRf; return; }
    busy = true;
    const s = sel;
    const model = await modelP;
    try {
      render(model, s, withRf);
      const body = { ...input, layer: s.layer, channel: s.channel, y: s.y, x: s.x };
      const [rf, unit] = await Promise.allSettled([
        withRf || !panelRf.rf ? getJSON(`${api}/rf?layer=${encodeURIComponent(s.layer)}&y=${s.y}&x=${s.x}`) : Promise.resolve(panelRf.rf),
        postJSON(`${api}/unit`, body)]);
      if (s !== sel) return;
      showRf(model, s, rf);
      const host = panel.querySelector(".unit-math");
      if (unit.status === "fulfilled") {
        renderArithmetic(host, unit.value, s);
        panel.dataset.value = unit.value.value;
        panel.dataset.preActivation = unit.value.pre_activation ?? "";
        document.body.dataset.unitMs = unit.value.timing_ms.total;
      } else {
        fill(host, el("p", { class: "note" }, unit.reason.message));
      }
      const photos = model.input_kind !== "digit" && model.weights !== "untrained"; // random weights: noise, not shown
      if ((model.input_kind === "digit" || photos) && s.kind === "conv" && withRf) renderExamples(panel.querySelector(".unit-examples"), api, s, photos);
    } finally {
      busy = false;
      if (again !== null) { const rf = again; again = null; load(rf); }
    }
  }

  const panelRf = { rf: null, layerRf: null, canvas: null, text: null, slider: null, extent: null, box: null };
  // the input the network saw, decoded once per answer (not once per step of the walking box)
  let seenImg = null;
  function seenImage() {
    if (!seen) return null;
    if (!seenImg || seenImg.dataset.src !== seen) {
      seenImg = new Image();
      seenImg.dataset.src = seen;
      seenImg.src = seen;
    }
    return seenImg;
  }

  function render(model, s, withRf) {
    if (!withRf && panel.querySelector(".unit-math")) return; // live update: keep the panel, refresh numbers
    const layer = model.layers.find((l) => l.name === s.layer);
    panelRf.layerRf = layer.receptive_field;
    panelRf.rf = null;
    const close = el("button", { type: "button", class: "close", "aria-label": t("close the unit panel"),
      onclick: () => { sel = null; panel.hidden = true; } }, "×");
    const where = s.vector ? t("unit {c}", { c: s.channel }) : t("channel {c} · unit (y {y}, x {x})", { c: s.channel, y: s.y, x: s.x });
    panelRf.canvas = el("canvas", { class: "rf-canvas", width: 240, height: 240, "aria-label": t("receptive field on the input") });
    panelRf.text = el("p", { class: "rf-text" });
    panelRf.slider = el("input", { type: "range", min: 0, value: 0, class: "rf-walk", "aria-label": t("walk the box across the layer") });
    const walk = el("label", { class: "rf-walk-label" }, t("walk the box across the layer"), " ", panelRf.slider);
    fill(panel,
      el("header", {}, el("h4", {}, `${s.layer} · ${where}`), close),
      s.f > 1 ? el("p", { class: "note" }, t("This map is drawn averaged over {f}×{f} units; the unit at the centre of the cell you picked is shown.", { f: s.f })) : null,
      el("div", { class: "unit-cols" },
        el("div", { class: "unit-rf" }, el("h5", {}, t("Receptive field on the input the network saw")), panelRf.canvas, panelRf.text,
          layer.receptive_field && !s.vector && s.shape[1] * s.shape[2] > 1 ? walk : null),
        el("div", { class: "unit-math" }, el("p", { class: "note" }, t("computing…")))),
      el("div", { class: "unit-examples" }));
    if (layer.receptive_field && s.shape.length === 3) {
      const [, H, W] = s.shape;
      panelRf.slider.max = H * W - 1;
      panelRf.slider.value = s.y * W + s.x;
      panelRf.slider.addEventListener("input", () => {
        const v = Number(panelRf.slider.value);
        walkTo(Math.floor(v / W), v % W, true);
      });
      const a = rfBox(layer.receptive_field, 0, 0), b = rfBox(layer.receptive_field, H - 1, W - 1);
      const [, IH, IW] = model.input_shape;
      panelRf.extent = [Math.min(0, a[0]), Math.min(0, a[1]), Math.max(IH - 1, b[2]), Math.max(IW - 1, b[3])];
    }
  }

  function showRf(model, s, rf) {
    if (rf.status !== "fulfilled") {
      fill(panelRf.text, rf.reason.message);
      drawRf(model, null);
      return;
    }
    panelRf.rf = rf.value;
    panel.dataset.box = rf.value.box.join(",");
    describe(model, rf.value.box, s.y, s.x, rf.value);
    drawRf(model, rf.value.box);
  }

  function describe(model, box, y, x, rf) {
    const [, IH, IW] = model.input_shape;
    const [top, left, bottom, right] = box;
    const out = Math.max(0, -top) + Math.max(0, -left) + Math.max(0, bottom - IH + 1) + Math.max(0, right - IW + 1);
    fill(panelRf.text,
      t("unit (y {y}, x {x}): rows {top}…{bottom}, columns {left}…{right} of the {h}×{w} input.",
        { y, x, top, bottom, left, right, h: IH, w: IW }), " ",
      t("size {size}, jump {jump}, start {start} (top = start + y·jump − size/2).", rf),
      out ? ` ${t("The hatched part of the box is outside the image: padding.")}` : "");
  }

  function walkTo(y, x, fromSlider) {
    if (!sel || !panelRf.layerRf || !panelRf.extent) return;
    const [, , W] = sel.shape;
    const yy = Math.min(y, sel.shape[1] - 1), xx = Math.min(x, W - 1);
    if (!fromSlider) panelRf.slider.value = yy * W + xx;
    modelP.then((m) => {
      const box = rfBox(panelRf.layerRf, yy, xx);
      describe(m, box, yy, xx, panelRf.layerRf);
      drawRf(m, box);
    });
  }

  function drawRf(model, box) {
    panelRf.box = box;
    const cv = panelRf.canvas, ctx = cv.getContext("2d");
    const [, IH, IW] = model.input_shape;
    const [t0, l0, b0, r0] = panelRf.extent || [0, 0, IH - 1, IW - 1];
    const span = Math.max(b0 - t0 + 1, r0 - l0 + 1), k = cv.width / span;
    ctx.fillStyle = "#d9dce3";
    ctx.fillRect(0, 0, cv.width, cv.height);
    ctx.strokeStyle = "#b8bcc7";
    for (let d = -cv.height; d < cv.width; d += 8) { ctx.beginPath(); ctx.moveTo(d, cv.height); ctx.lineTo(d + cv.height, 0); ctx.stroke(); }
    const ox = -l0 * k, oy = -t0 * k;
    const img = seenImage();
    if (img && img.complete && img.naturalWidth) { ctx.imageSmoothingEnabled = false; ctx.drawImage(img, ox, oy, IW * k, IH * k); }
    else if (img) img.onload = () => drawRf(model, panelRf.box); // once decoded: the box shown by then, not this one
    if (!box) return;
    ctx.fillStyle = "rgba(255, 196, 0, 0.18)";
    ctx.fillRect(ox + box[1] * k, oy + box[0] * k, (box[3] - box[1] + 1) * k, (box[2] - box[0] + 1) * k);
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffb000";
    ctx.strokeRect(ox + box[1] * k, oy + box[0] * k, (box[3] - box[1] + 1) * k, (box[2] - box[0] + 1) * k);
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = "#2f6fdf";
    ctx.strokeRect(ox, oy, IW * k, IH * k);
    ctx.setLineDash([]);
  }

  // after each prediction: remember its input; move the open panel into the re-rendered section and refresh it
  function update(res, body) {
    input = body;
    seen = res.input.image;
    if (!sel) return;
    const sec = document.querySelector(`section.layer[data-layer="${CSS.escape(sel.layer)}"]`);
    if (sec) { sec.append(panel); load(false); } else { sel = null; panel.hidden = true; }
  }

  // every page announces its results (draw.js, live.js, model.js): the open panel follows the drawing / photo
  document.addEventListener("convscope:predicted", (e) => {
    if (e.detail.model === modelName) update(e.detail.result, e.detail.input);
  });

  return { decorate, model: modelP };
}
