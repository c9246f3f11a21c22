// A layer's section of activation maps, as the explorer (model.js) and the drawing pad (draw.js) show it:
// the heading with the shape, the statistics and a grid for the maps; and the options both paint it with.
import { el } from "./lib.js";
import { mapSide, statsText } from "./maps.js";

const DIGITS = [..."0123456789"];

// <section class="layer" data-layer=NAME>: h3 (name, shape), p.stats, div.grid; returned with its stats and grid
export function layerSection(l, id = null) {
  const stats = el("p", { class: "stats" }, statsText(l)), grid = el("div", { class: "grid" });
  const sec = el("section", { class: "layer", id, dataset: { layer: l.name } },
    el("h3", {}, l.name, " ", el("small", {}, l.shape.join("×"))), stats, grid);
  return { sec, stats, grid };
}

// The largest side (height or width) among C×H×W shapes, at least 1: it sets the scale of every map.
export const largestSide = (shapes) => Math.max(1, ...shapes.map((s) => (s && s.length === 3 ? Math.max(s[1], s[2]) : 0)));

// paintMaps options for a layer's answer `l`: maps sized in proportion to their real side against
// `largest`; one colour scale across the layer when `shared`; a 10-unit vector labelled 0-9 when `digits`.
export function paintOpts(l, { largest, shared, digits }) {
  const real = l.shape.length === 3 ? Math.max(l.shape[1], l.shape[2]) : 1;
  return { side: mapSide(real, largest), range: shared ? [l.min, l.max] : null,
    labels: digits && l.shape.length === 1 && l.shape[0] === 10 ? DIGITS : null };
}
