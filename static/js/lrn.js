// What LRN does, visibly: after an image runs on an explorer with LRN layers (alexnet, vgg11-lrn), the same
// channels before and after each LRN side by side, and one position's arithmetic worked through.
import { t } from "./i18n.js";
import { el, fill, postJSON } from "./lib.js";
import { paintMaps } from "./maps.js";

const host = document.getElementById("lrn-out");
const model = JSON.parse(document.getElementById("model-data").textContent);
let seq = 0;

function pair(item) {
  const scale = Math.max(1, Math.floor(96 / item.before.height));
  const before = el("div", { class: "grid" }), after = el("div", { class: "grid" });
  paintMaps(before, item.before, { scale });
  paintMaps(after, item.after, { scale });
  const w = item.worked;
  const first = item.before.offset, last = item.before.offset + item.before.channels - 1;
  return el("section", { class: "lrn-item", dataset: { layer: item.layer } },
    el("h3", {}, item.layer, " ", el("small", {}, `k = ${item.k}, n = ${item.n}, α = ${item.alpha}, β = ${item.beta}`)),
    el("p", { class: "note" }, t("Channels {first}–{last}, each map scaled to its own range.", { first, last })),
    el("div", { class: "lrn-pair" },
      el("div", {}, el("h4", {}, t("before LRN ({name})", { name: item.reads })), before),
      el("div", {}, el("h4", {}, t("after LRN ({name})", { name: item.layer })), after)),
    el("p", { class: "lrn-worked" }, w.text),
    el("ol", { class: "formulas" }, w.steps.map((s) => el("li", {}, el("code", {}, s)))));
}

async function lesson(image) {
  const my = ++seq;
  fill(host, el("p", { class: "status" }, t("running…")));
  try {
    const res = await postJSON(`/api/models/${encodeURIComponent(model.name)}/lrn`, { image });
    if (my !== seq) return;
    fill(host, res.lrn.map(pair));
  } catch (err) {
    if (my === seq) fill(host, el("p", { class: "error" }, err.message));
  }
}

if (host) document.addEventListener("convscope:ran", (e) => lesson(e.detail.image));
