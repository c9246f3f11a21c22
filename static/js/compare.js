// The comparison page: two models side by side with a stage-by-stage diff, and a parameters-vs-MACs chart.
import { t } from "./i18n.js";
import { el, fill, full, getJSON, si, svg } from "./lib.js";

const tParams = (n) => t("{n} params", { n });
const tWeightLayers = (n) => t("{n} weight layers", { n });
const tChart = t("parameters against MACs, log scales");
const KINDS = { basic: t("basic"), bottleneck: t("bottleneck") };

const models = JSON.parse(document.getElementById("models-data").textContent);
const a = document.getElementById("a"), b = document.getElementById("b");
const side = document.getElementById("side");
const cache = new Map();

async function detail(name) {
  if (!cache.has(name)) cache.set(name, getJSON(`/api/models/${encodeURIComponent(name)}`));
  return cache.get(name);
}

const sig = (l) => l && JSON.stringify([l.op, l.ops, l.kernel, l.stride, l.padding, l.groups, l.output_shape, l.params]);
const shape = (s) => (s || ["?"]).join("×");
const desc = (l) => (l ? `${l.ops.join("→")}${l.kernel ? ` ${l.kernel.join("×")}` : ""} → ${shape(l.output_shape)}, ${tParams(full(l.params))}` : "—");

// A stage: ResNet's "layerN" groups (names "layerN.M"); otherwise the layers working at one input
// resolution (VGG's blocks, AlexNet's and LeNet's steps); vectors form the classifier.
function stageOf(l) {
  const dot = l.name.indexOf(".");
  if (dot > 0) return l.name.slice(0, dot);
  const s = l.input_shape;
  return s && s.length === 3 && s[1] != null ? t("at {size}", { size: `${s[1]}×${s[2]}` }) : t("classifier");
}

function stages(layers) {
  const out = [];
  for (const l of layers) {
    const key = stageOf(l);
    if (!out.length || out[out.length - 1].key !== key) out.push({ key, layers: [] });
    out[out.length - 1].layers.push(l);
  }
  return out;
}

// A residual block's kind and its main-branch convolutions, read from its children.
function blockKind(l) {
  if (!l || !l.children) return null;
  const convs = l.children.filter((c) => c.kind === "conv" && c.branch === "main");
  const kind = convs.length === 3 ? "bottleneck" : convs.length === 2 ? "basic" : `${convs.length}-conv`;
  return { kind, name: KINDS[kind] || kind, convs: convs.map((c) => `${c.kernel.join("×")} conv ${c.output_shape[0]}`).join(", ") };
}

const sum = (ls, k) => ls.reduce((t, l) => t + (l[k] || 0), 0);

function stageSummary(st) {
  if (!st) return "—";
  const bk = blockKind(st.layers[0]);
  const n = st.layers.length;
  const what = bk ? (n > 1 ? t("{n} {kind} blocks", { n, kind: bk.name }) : t("{n} {kind} block", { n, kind: bk.name }))
    : (n > 1 ? t("{n} layers", { n }) : t("{n} layer", { n }));
  return `${what} → ${shape(st.layers[n - 1].output_shape)}, ${tParams(full(sum(st.layers, "params")))}, ${si(sum(st.layers, "macs"))} MACs`;
}

function diffRows(da, db) {
  const sa = stages(da.layers), sb = stages(db.layers);
  const keys = [...sa.map((s) => s.key), ...sb.map((s) => s.key).filter((k) => !sa.some((s) => s.key === k))];
  const rows = [];
  for (const key of keys) {
    const xa = sa.find((s) => s.key === key), xb = sb.find((s) => s.key === key);
    const la = xa ? xa.layers : [], lb = xb ? xb.layers : [];
    const same = la.length === lb.length && la.every((l, i) => sig(l) === sig(lb[i]));
    if (same) continue;
    const dp = sum(lb, "params") - sum(la, "params");
    rows.push(el("tr", { class: "stage-row", dataset: { stage: key } },
      el("th", { scope: "row" }, key), el("td", {}, stageSummary(xa)), el("td", {}, stageSummary(xb)),
      el("td", { class: "num" }, `${dp > 0 ? "+" : ""}${full(dp)}`)));
    const ka = blockKind(la[0]), kb = blockKind(lb[0]);
    if (ka && kb && ka.kind !== kb.kind) {
      const said = t("block kind changes: {a} → {b}. Each block's main branch goes from {from} to {to}; the stage's output goes from {s1} to {s2}.", {
        a: ka.name, b: kb.name, from: ka.convs, to: kb.convs,
        s1: shape(la[la.length - 1].output_shape), s2: shape(lb[lb.length - 1].output_shape) });
      rows.push(el("tr", { class: "kind-change", dataset: { from: ka.kind, to: kb.kind } }, el("td", {}), el("td", { colspan: 3 }, said)));
    }
    for (let i = 0; i < Math.max(la.length, lb.length); i++) {
      const x = la[i], y = lb[i];
      if (sig(x) === sig(y)) continue;
      const name = x && y && x.name !== y.name ? `${x.name} / ${y.name}` : (x || y).name;
      const d = (y?.params ?? 0) - (x?.params ?? 0);
      rows.push(el("tr", { class: "diff-row" }, el("td", {}, name), el("td", {}, desc(x)), el("td", {}, desc(y)),
        el("td", { class: "num" }, `${d > 0 ? "+" : ""}${full(d)}`)));
    }
  }
  return rows;
}

async function render() {
  let da, db;
  try {
    [da, db] = await Promise.all([detail(a.value), detail(b.value)]);
  } catch (err) {
    fill(side, el("p", { class: "error" }, err.message));
    return;
  }
  const fact = (k, f) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, f(da)), el("td", {}, f(db)));
  const facts = el("table", { class: "facts-table" },
    el("thead", {}, el("tr", {}, el("th", {}), el("th", { scope: "col" }, da.title), el("th", { scope: "col" }, db.title))),
    el("tbody", {}, fact(t("depth"), (m) => tWeightLayers(m.depth)), fact(t("parameters"), (m) => full(m.params)),
      fact("MACs", (m) => si(m.macs)), fact(t("input"), (m) => shape(m.input_shape)), fact(t("layers"), (m) => m.layers.length)));
  const rows = diffRows(da, db);
  const nStages = rows.filter((r) => r.classList.contains("stage-row")).length;
  fill(side, el("div", { class: "table-wrap" }, facts),
    el("h3", {}, t("Stages that differ ({n})", { n: nStages })),
    rows.length
      ? el("div", { class: "table-wrap" }, el("table", { id: "diff", class: "diff" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("stage / layer")), el("th", { scope: "col" }, da.name),
          el("th", { scope: "col" }, db.name), el("th", { scope: "col", class: "num" }, t("Δ params (B − A)")))),
        el("tbody", {}, rows)))
      : el("p", {}, t("identical stage by stage")));
}

// Labels are placed beside their point where they overlap nothing placed before (right, left, above,
// below); a label with no free place is left out (the point's tooltip and link still name it).
function placeLabels(pts, W, H) {
  const boxes = pts.map((p) => ({ x: p.x - 5, y: p.y - 5, w: 10, h: 10 }));
  const hit = (r) => r.x < 0 || r.y < 0 || r.x + r.w > W || r.y + r.h > H
    || boxes.some((q) => r.x < q.x + q.w && q.x < r.x + r.w && r.y < q.y + q.h && q.y < r.y + r.h);
  return pts.map((p) => {
    const w = p.label.length * 7.2, h = 14;
    for (const [dx, dy, anchor] of [[8, -7, "start"], [-8 - w, -7, "end"], [-w / 2, -22, "middle"], [-w / 2, 8, "middle"]]) {
      const r = { x: p.x + dx, y: p.y + dy, w, h };
      if (!hit(r)) {
        boxes.push(r);
        const tx = anchor === "start" ? r.x : anchor === "end" ? r.x + w : r.x + w / 2;
        return { x: tx, y: r.y + 11, anchor };
      }
    }
    return null;
  });
}

function chart() {
  const host = document.getElementById("chart");
  const pts = models.filter((m) => m.params && m.macs);
  const W = Math.max(320, Math.min(760, host.clientWidth || 640)), H = Math.round(W * 0.6), P = 56;
  const lx = pts.map((m) => Math.log10(m.macs)), ly = pts.map((m) => Math.log10(m.params));
  const x0 = Math.floor(Math.min(...lx)), x1 = Math.ceil(Math.max(...lx)), y0 = Math.floor(Math.min(...ly)), y1 = Math.ceil(Math.max(...ly));
  const X = (v) => P + ((v - x0) / (x1 - x0)) * (W - 1.5 * P), Y = (v) => H - P - ((v - y0) / (y1 - y0)) * (H - 1.5 * P);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": tChart });
  for (let e = x0; e <= x1; e++) {
    root.append(svg("line", { class: "gridline", x1: X(e), x2: X(e), y1: P / 2, y2: H - P }),
      svg("text", { class: "axis", x: X(e), y: H - P + 18 }, si(10 ** e)));
  }
  for (let e = y0; e <= y1; e++) {
    root.append(svg("line", { class: "gridline", x1: P, x2: W - P / 2, y1: Y(e), y2: Y(e) }),
      svg("text", { class: "axis", x: P - 6, y: Y(e) + 4, "text-anchor": "end" }, si(10 ** e)));
  }
  root.append(svg("text", { class: "axis", x: W / 2, y: H - 10 }, t("MACs per image (log)")),
    svg("text", { class: "axis", x: 14, y: H / 2, transform: `rotate(-90 14 ${H / 2})` }, t("parameters (log)")));
  const placed = pts.map((m, i) => ({ x: X(lx[i]), y: Y(ly[i]), label: m.name }));
  const labels = placeLabels(placed, W, H);
  pts.forEach((m, i) => {
    const link = svg("a", { href: `/models/${encodeURIComponent(m.name)}` },
      svg("circle", { class: `pt fam-${m.family.replace(/\W/g, "")}`, cx: placed[i].x, cy: placed[i].y, r: 5 },
        svg("title", {}, `${m.title}: ${tParams(full(m.params))}, ${si(m.macs)} MACs`)));
    if (labels[i]) link.append(svg("text", { class: "ptl", x: labels[i].x, y: labels[i].y, "text-anchor": labels[i].anchor }, m.name));
    root.append(link);
  });
  fill(host, root);
}

a.addEventListener("change", render);
b.addEventListener("change", render);
render();
chart();
