// The comparison page: two models side by side with a layer diff, and a parameters-vs-MACs chart.
import { t } from "./i18n.js";

const tParams = (n) => t("{n} params", { n });
const tWeightLayers = (n) => t("{n} weight layers", { n });
const tDiffer = (n) => t("Layers that differ ({n})", { n });
const tChart = t("parameters against MACs, log scales");

const models = JSON.parse(document.getElementById("models-data").textContent);
const a = document.getElementById("a"), b = document.getElementById("b");
const side = document.getElementById("side");
const cache = new Map();
const num = (n) => (n == null ? "?" : n.toLocaleString("en-US"));
const si = (n) => (n == null ? "?" : n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`);

async function detail(name) {
  if (!cache.has(name)) cache.set(name, fetch(`/api/models/${encodeURIComponent(name)}`).then((r) => r.json()));
  return cache.get(name);
}

const sig = (l) => l && JSON.stringify([l.op, l.ops, l.kernel, l.stride, l.padding, l.groups, l.output_shape, l.params]);
const desc = (l) => (l ? `${l.ops.join("→")}${l.kernel ? ` ${l.kernel.join("×")}` : ""} → ${(l.output_shape || ["?"]).join("×")}, ${tParams(num(l.params))}` : "—");

async function render() {
  const [da, db] = await Promise.all([detail(a.value), detail(b.value)]);
  const byName = new Map(db.layers.map((l) => [l.name, l]));
  const names = [...da.layers.map((l) => l.name), ...db.layers.map((l) => l.name).filter((n) => !da.layers.some((l) => l.name === n))];
  const rows = [];
  for (const n of names) {
    const la = da.layers.find((l) => l.name === n), lb = byName.get(n);
    if (sig(la) === sig(lb)) continue;
    const dp = (lb?.params ?? 0) - (la?.params ?? 0);
    rows.push(`<tr class="diff-row"><td>${n}</td><td>${desc(la)}</td><td>${desc(lb)}</td><td class="num">${dp > 0 ? "+" : ""}${num(dp)}</td></tr>`);
  }
  const fact = (k, f) => `<tr><th>${k}</th><td>${f(da)}</td><td>${f(db)}</td></tr>`;
  side.innerHTML = `<table class="facts-table"><thead><tr><th></th><th>${da.title}</th><th>${db.title}</th></tr></thead><tbody>
    ${fact(t("depth"), (m) => tWeightLayers(m.depth))}${fact(t("parameters"), (m) => num(m.params))}
    ${fact("MACs", (m) => si(m.macs))}${fact(t("input"), (m) => m.input_shape.join("×"))}${fact(t("layers"), (m) => m.layers.length)}</tbody></table>
    <h3>${tDiffer(rows.length)}</h3>
    ${rows.length ? `<table id="diff" class="diff"><thead><tr><th>${t("layer")}</th><th>${da.name}</th><th>${db.name}</th><th class="num">${t("Δ params (B − A)")}</th></tr></thead><tbody>${rows.join("")}</tbody></table>` : `<p>${t("identical layer by layer")}</p>`}`;
}

function chart() {
  const pts = models.filter((m) => m.params && m.macs);
  const W = 640, H = 360, P = 50;
  const lx = pts.map((m) => Math.log10(m.macs)), ly = pts.map((m) => Math.log10(m.params));
  const x0 = Math.floor(Math.min(...lx)), x1 = Math.ceil(Math.max(...lx)), y0 = Math.floor(Math.min(...ly)), y1 = Math.ceil(Math.max(...ly));
  const X = (v) => P + ((v - x0) / (x1 - x0)) * (W - 2 * P), Y = (v) => H - P - ((v - y0) / (y1 - y0)) * (H - 2 * P);
  let s = `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${tChart}">`;
  for (let e = x0; e <= x1; e++) s += `<line class="gridline" x1="${X(e)}" x2="${X(e)}" y1="${P / 2}" y2="${H - P}"/><text class="axis" x="${X(e)}" y="${H - P + 16}">${si(10 ** e)}</text>`;
  for (let e = y0; e <= y1; e++) s += `<line class="gridline" x1="${P}" x2="${W - P / 2}" y1="${Y(e)}" y2="${Y(e)}"/><text class="axis" x="${P - 6}" y="${Y(e) + 4}" text-anchor="end">${si(10 ** e)}</text>`;
  s += `<text class="axis" x="${W / 2}" y="${H - 8}">${t("MACs per image (log)")}</text><text class="axis" x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})">${t("parameters (log)")}</text>`;
  pts.forEach((m, i) => {
    s += `<a href="/models/${m.name}"><circle class="pt fam-${m.family.replace(/\W/g, "")}" cx="${X(lx[i])}" cy="${Y(ly[i])}" r="5"><title>${m.title}: ${tParams(num(m.params))}, ${si(m.macs)} MACs</title></circle>`;
    s += `<text class="ptl" x="${X(lx[i]) + 7}" y="${Y(ly[i]) - 5 + (i % 3) * 6}">${m.name}</text></a>`;
  });
  document.getElementById("chart").innerHTML = `${s}</svg>`;
}

a.addEventListener("change", render);
b.addEventListener("change", render);
render();
chart();
