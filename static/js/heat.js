// Small heat grids for the unit panel and the kernels view: a k×k grid of coloured cells, each with its
// number as text (small grids) or as a tooltip (title), and canvases of tiles. Text only, never HTML.
import { el, fmt } from "./lib.js";
import { t } from "./i18n.js";
import { LUT } from "./maps.js";

export const viridis = (t) => {
  const i = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
  return [LUT[i], LUT[i + 1], LUT[i + 2]];
};

// -1 -> blue, 0 -> white, +1 -> red
export const diverging = (t) => {
  const a = Math.max(-1, Math.min(1, t));
  return a >= 0 ? [255, Math.round(255 * (1 - a * 0.8)), Math.round(255 * (1 - a * 0.85))]
    : [Math.round(255 * (1 + a * 0.85)), Math.round(255 * (1 + a * 0.6)), 255];
};

export const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const ink = (c) => (c[0] * 0.3 + c[1] * 0.59 + c[2] * 0.11 > 140 ? "#111" : "#fff");

// grid: rows of numbers (null = padding); mode "seq" (viridis over [lo, hi]) or "div" (symmetric about 0)
export function heatGrid(rows, { mode = "seq", lo, hi, mark, caption, showText } = {}) {
  const flat = rows.flat().filter((v) => v != null);
  const mn = lo ?? Math.min(...flat, 0), mx = hi ?? Math.max(...flat, 0);
  const m = Math.max(Math.abs(mn), Math.abs(mx)) || 1;
  const k = rows[0].length;
  const text = showText ?? k <= 5;
  const grid = el("div", { class: ["heat", text ? "with-text" : ""] });
  grid.style.gridTemplateColumns = `repeat(${k}, auto)`; // CSSOM, not a style attribute (CSP)
  rows.forEach((row, i) => row.forEach((v, j) => {
    if (v == null) {
      grid.append(el("span", { class: "cell pad", title: t("padding (outside the input): 0") }, text ? "0" : ""));
      return;
    }
    const c = mode === "div" ? diverging(v / m) : viridis(mx > mn ? (v - mn) / (mx - mn) : 0);
    const marked = mark && mark[0] === i && mark[1] === j;
    const cell = el("span", { class: ["cell", marked ? "mark" : ""], title: fmt(v) }, text ? fmt(v) : "");
    cell.style.background = rgb(c);
    cell.style.color = ink(c);
    grid.append(cell);
  }));
  return caption ? el("figure", { class: "heatfig" }, grid, el("figcaption", {}, caption)) : grid;
}

// One canvas of tiles: tiles[i] is an h×w array of [r,g,b] in 0..255; cols tiles per row, px per cell.
export function tileCanvas(tiles, h, w, { cols, px = 6, gap = 2, title } = {}) {
  const n = tiles.length, c = cols || Math.ceil(Math.sqrt(n)), r = Math.ceil(n / c);
  const cv = el("canvas", { class: "tiles", width: c * (w * px + gap), height: r * (h * px + gap), title });
  const ctx = cv.getContext("2d");
  tiles.forEach((t, i) => {
    const ox = (i % c) * (w * px + gap), oy = Math.floor(i / c) * (h * px + gap);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      ctx.fillStyle = rgb(t[y][x]);
      ctx.fillRect(ox + x * px, oy + y * px, px, px);
    }
  });
  return cv;
}
