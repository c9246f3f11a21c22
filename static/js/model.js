// The layer explorer: network diagram, image upload / samples -> top-5 and lazily painted maps per layer.
import { t } from "./i18n.js";
import { el, pct, postJSON, svg } from "./lib.js";
import { layerSection, largestSide, paintOpts } from "./layers.js";
import { paintMaps } from "./maps.js";
import "./predict.js";
import "./lrn.js";
import { kernelsView } from "./kernels.js";
import { createUnits } from "./unit.js";

const model = JSON.parse(document.getElementById("model-data").textContent);
const layersEl = document.getElementById("layers");
const statusEl = document.getElementById("status");
const PER_PAGE = 16;
let image = null; // data URL of the current input
let seq = 0;
const units = createUnits({ modelName: model.name, model }); // click or keyboard-select a map cell

// ---- diagram: one block per layer, height ~ spatial size, width ~ channels (log), residual arcs
function diagram() {
  const host = document.getElementById("diagram");
  const layers = model.layers;
  let x = 10;
  const H = 150, mid = 80;
  const items = [];
  const k = layers.length < 12 ? 4 : layers.length < 30 ? 2 : 1; // small networks get wider blocks
  for (const [i, l] of layers.entries()) {
    const s = l.output_shape || [1];
    const side = s.length === 3 ? s[1] : 1;
    const ch = s[0] || 1;
    const h = s.length === 3 ? Math.max(6, Math.min(H - 20, 8 + Math.sqrt(side) * 8)) : Math.max(6, Math.min(H - 20, Math.log2(ch + 1) * 8));
    const w = (s.length === 3 ? Math.max(4, Math.log2(ch + 1) * 2.2) : 6) * k;
    items.push({ i, l, x, w, h });
    x += w + (l.kind === "block" ? 6 : 10) * k;
  }
  const root = svg("svg", { viewBox: `0 0 ${x + 10} ${H + 56}`, width: Math.max(x + 10, 300), height: H + 56 });
  for (const it of items) {
    const go = () => document.getElementById(`layer-${it.i}`).scrollIntoView({ behavior: "smooth", block: "center" });
    root.append(svg("rect", { x: it.x, y: mid - it.h / 2, width: it.w, height: it.h, class: `blk kind-${it.l.kind}`, tabindex: 0,
      onclick: go, onkeydown: (e) => { if (e.key === "Enter") go(); } },
    svg("title", {}, `${it.l.name}: ${(it.l.output_shape || ["?"]).join("×")}`)));
    if (it.l.kind === "block" && it.i > 0) { // residual connection: an arc from the previous output
      const prev = items[it.i - 1];
      const x0 = prev.x + prev.w / 2, x1 = it.x + it.w / 2, y = mid - Math.max(prev.h, it.h) / 2 - 4;
      root.append(svg("path", { class: "skip",
        d: `M${x0},${mid - prev.h / 2} C${x0},${y - 14} ${x1},${y - 14} ${x1},${mid - it.h / 2}` }));
    }
    if (items.length <= 30 || it.l.kind !== "block") { // a deep network's blocks go unlabelled (their tooltips name them)
      const cx = it.x + it.w / 2;
      root.append(svg("text", { x: cx, y: H + 4, class: "lbl", transform: `rotate(40 ${cx} ${H + 4})` }, it.l.name));
    }
  }
  host.replaceChildren(root);
}

// ---- running an image
async function fileToDataURL(file) {
  return new Promise((ok, fail) => {
    const r = new FileReader();
    r.onload = () => ok(r.result);
    r.onerror = () => fail(new Error(t("could not read the file")));
    r.readAsDataURL(file);
  });
}

async function urlToDataURL(url) {
  const blob = await (await fetch(url)).blob();
  return fileToDataURL(blob);
}

async function run(dataURL) {
  image = dataURL;
  const my = ++seq;
  statusEl.textContent = t("running…");
  const t0 = performance.now();
  try {
    // one request: predictions, statistics and the first page of maps (small, downsampled)
    const res = await postJSON(`/api/models/${encodeURIComponent(model.name)}/predict`,
      { image, top_k: 5, activations: "maps", map_channels: PER_PAGE, map_size: 56 });
    if (my !== seq) return;
    const bytes = JSON.stringify(res).length;
    statusEl.textContent = t("done in {ms} ms (inference {inf} ms, {kb} KB)", {
      ms: (performance.now() - t0).toFixed(0), inf: res.timing_ms.inference.toFixed(0), kb: (bytes / 1024).toFixed(0) });
    document.body.dataset.transferBytes = bytes;
    show(res, t0);
    document.dispatchEvent(new CustomEvent("convscope:ran", { detail: { image } })); // lrn.js
    document.dispatchEvent(new CustomEvent("convscope:predicted", { detail: { model: model.name, input: { image }, result: res } }));
  } catch (err) {
    if (my !== seq) return;
    clearResults(); // an invalid upload leaves nothing of the previous image on screen
    statusEl.textContent = err.message;
  }
}

function clearResults() {
  image = null;
  painted.clear();
  document.getElementById("seen").removeAttribute("src");
  document.getElementById("topk").replaceChildren();
  layersEl.replaceChildren();
  document.getElementById("lrn-out")?.replaceChildren();
  document.dispatchEvent(new CustomEvent("convscope:cleared"));
}

const layerOf = new WeakMap(); // a painted section -> its layer's answer (first page of maps, min, max)
// what each painted section's canvases show, page by page: [painter, maps, the layer's first answer], so the
// colour-scale box recolours them in place (an open unit panel and the pages of "show more" stay)
const painted = new Map();
function show(res, t0) {
  painted.clear();
  document.getElementById("seen").src = res.input.image;
  const ol = document.getElementById("topk");
  ol.replaceChildren(...res.top_k.map((t) => el("li", {},
    el("span", { class: "lab" }, t.label), " ", el("span", { class: "p" }, `${pct(t.probability)}%`))));
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      observer.unobserve(e.target);
      paintSection(e.target);
      if (!document.body.dataset.firstPaintMs) document.body.dataset.firstPaintMs = (performance.now() - t0).toFixed(1);
    }
  }, { rootMargin: "400px" });
  const frag = document.createDocumentFragment();
  res.layers.forEach((l, i) => {
    const { sec } = layerSection(l, `maps-${i}`);
    layerOf.set(sec, l);
    frag.append(sec);
    observer.observe(sec);
  });
  layersEl.replaceChildren(frag);
}

// Maps are drawn at sizes proportional to their real height and width across the whole network.
const largest = largestSide(model.layers.map((l) => l.output_shape));
const sharedBox = document.getElementById("shared-scale");
const opts = (l) => paintOpts(l, { largest, shared: sharedBox && sharedBox.checked, digits: model.labels === "mnist" });

function paintSection(sec) {
  const l = layerOf.get(sec);
  const painter = paintMaps(sec.querySelector(".grid"), l.maps, { ...opts(l), decorate: units.decorate(l.name, l.maps) });
  painted.set(sec, [[painter, l.maps, l]]);
  addMore(sec, l, l.maps.offset + l.maps.channels, l.maps.total_channels);
}

// `first`: the layer's first answer, whose min and max set the shared colour scale for every page of maps
function addMore(sec, first, next, total) {
  sec.querySelector(".more")?.remove();
  if (next >= total) return;
  const b = document.createElement("button");
  b.type = "button";
  b.className = "more";
  b.textContent = t("show {n} more of {total} channels", { n: Math.min(64, total - next), total });
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      const res = await postJSON(`/api/models/${encodeURIComponent(model.name)}/predict`, {
        image, top_k: 1, activations: "maps", layers: [sec.dataset.layer], map_offset: next, map_channels: 64, map_size: 56,
      });
      const l = res.layers.find((x) => x.name === sec.dataset.layer);
      const painter = paintMaps(sec.querySelector(".grid"), l.maps,
        { ...opts({ ...l, min: first.min, max: first.max }), decorate: units.decorate(l.name, l.maps) });
      painted.get(sec)?.push([painter, l.maps, first]);
      addMore(sec, first, next + l.maps.channels, total);
    } catch (err) {
      b.textContent = err.message;
    }
  });
  sec.append(b);
}

const fileInput = document.getElementById("file");
document.getElementById("choose").addEventListener("click", () => fileInput.click()); // a visible, focusable control
fileInput.addEventListener("change", async () => {
  if (fileInput.files[0]) run(await fileToDataURL(fileInput.files[0]));
  fileInput.value = ""; // the same file chosen again runs again
});
const drop = document.getElementById("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) run(await fileToDataURL(f));
});
for (const b of document.querySelectorAll(".sample")) {
  b.addEventListener("click", async () => run(await urlToDataURL(b.dataset.src)));
}
// a residual block's row opens into its parts (convolutions, BN, ReLU, the shortcut, the add)
for (const b of document.querySelectorAll("#layer-table button.expand")) {
  b.addEventListener("click", () => {
    const open = b.getAttribute("aria-expanded") !== "true";
    b.setAttribute("aria-expanded", String(open));
    for (const id of b.getAttribute("aria-controls").split(" ").filter(Boolean)) document.getElementById(id).hidden = !open;
  });
}
sharedBox?.addEventListener("change", () => {
  for (const pages of painted.values()) for (const [painter, maps, first] of pages) painter.paint(maps, opts(first).range);
});
window.convscopeRun = run; // for tests and the console
diagram();
kernelsView(document.getElementById("kernels"), model);
