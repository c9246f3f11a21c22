// Shared by the pages: decode convscope's 8-bit activation maps and paint them on canvases.
// Format (see app/serving/run.py): base64 of channels*height*width bytes; byte v of channel c
// stands for min[c] + v/255 * (max[c] - min[c]).
import { t } from "./i18n.js";
import { fmt } from "./lib.js";

// viridis, 9 control points, interpolated into a 256-entry lookup table
const STOPS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
export const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1), k = Math.min(Math.floor(t), STOPS.length - 2), f = t - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = STOPS[k][c] * (1 - f) + STOPS[k + 1][c] * f;
  }
  return lut;
})();

export function decode(maps) {
  const bin = atob(maps.data);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

let tip;
function tooltip() {
  if (!tip) {
    tip = document.createElement("div");
    tip.className = "tip";
    document.body.append(tip);
  }
  return tip;
}

// Vectors (fully connected layers) are wrapped into a near-square grid of readable cells.
export function vectorGrid(n) {
  const cols = n <= 20 ? n : Math.ceil(Math.sqrt(n));
  return { cols, rows: Math.ceil(n / cols), cell: Math.max(4, Math.min(28, Math.floor(256 / cols))) };
}

// The side, in CSS pixels, to draw a map of `real` pixels so that sizes stay proportional to the real
// ones across a network (largest map of the network -> about 120 px), never below 16 px.
export function mapSide(real, largest) {
  const k = Math.min(4, 120 / Math.max(1, largest));
  return Math.max(16, Math.round(real * k));
}

// Paint channels [0, maps.channels) of one layer into `grid`, one canvas per channel.
// side: CSS pixels for the map's largest side (default: `scale` pixels per cell);
// range: [min, max] for one colour scale across the layer (default: each channel its own min..max);
// labels: names of a vector's units (e.g. the digits), shown under its cells.
// decorate: cell selection (static/js/unit.js), called with each canvas and its geometry (cols: a vector's
// units per row of its wrapped grid).
export function paintMaps(grid, maps, { scale = 3, label = t("ch"), side = null, range = null, labels = null, decorate = null } = {}) {
  const bytes = decode(maps);
  const { height: h, width: w } = maps;
  const per = h * w;
  const vec = h === 1 ? vectorGrid(w) : null;
  const gw = vec ? vec.cols : w, gh = vec ? vec.rows : h;
  const px = vec ? vec.cell : side ? side / Math.max(h, w) : Math.max(1, Math.round(scale));
  for (let c = 0; c < maps.channels; c++) {
    const cv = document.createElement("canvas");
    cv.width = gw;
    cv.height = gh;
    cv.className = vec ? "map vector" : "map";
    cv.style.width = `${Math.round(gw * px)}px`;
    cv.style.height = `${Math.round(gh * px)}px`;
    const ctx = cv.getContext("2d");
    const img = ctx.createImageData(gw, gh);
    const ch = maps.offset + c, lo = maps.min[c], hi = maps.max[c];
    const value = (i) => lo + (bytes[c * per + i] / 255) * (hi - lo);
    for (let i = 0; i < per; i++) {
      let v = bytes[c * per + i];
      if (range && range[1] > range[0]) v = Math.max(0, Math.min(255, Math.round(((value(i) - range[0]) / (range[1] - range[0])) * 255)));
      img.data[i * 4] = LUT[v * 3];
      img.data[i * 4 + 1] = LUT[v * 3 + 1];
      img.data[i * 4 + 2] = LUT[v * 3 + 2];
      img.data[i * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    cv.dataset.channel = ch;
    cv.addEventListener("mousemove", (e) => {
      const r = cv.getBoundingClientRect();
      const x = Math.min(gw - 1, Math.floor(((e.clientX - r.left) / r.width) * gw));
      const y = Math.min(gh - 1, Math.floor(((e.clientY - r.top) / r.height) * gh));
      const i = vec ? y * gw + x : y * w + x;
      if (i >= per) { tooltip().hidden = true; return; }
      const v = value(i);
      const box = tooltip();
      const unit = labels && labels[i] != null ? `${i} (${labels[i]})` : i;
      box.textContent = vec ? t("unit {x}: {v}", { x: unit, v: fmt(v) }) : `${label} ${ch} (${x}, ${y}): ${fmt(v)}`;
      box.style.left = `${e.pageX + 12}px`;
      box.style.top = `${e.pageY + 12}px`;
      box.hidden = false;
    });
    cv.addEventListener("mouseleave", () => { tooltip().hidden = true; });
    // cell selection (static/js/unit.js): the byte of cell (y, x) decoded back into its value
    decorate?.(cv, { channel: ch, h, w, cols: gw, valueAt: (y, x) => value(y * w + x) });
    if (vec && labels && w <= 20) {
      const names = document.createElement("div");
      names.className = "vec-labels";
      for (let i = 0; i < w; i++) {
        const s = document.createElement("span");
        s.textContent = labels[i] ?? i;
        s.style.width = `${px}px`;
        names.append(s);
      }
      const fig = document.createElement("div");
      fig.className = "vec";
      fig.append(cv, names);
      grid.append(fig);
    } else {
      grid.append(cv);
    }
  }
}

export function statsText(l) {
  return t("min {min} · max {max} · mean {mean} · {zero}% zero", {
    min: fmt(l.min), max: fmt(l.max), mean: fmt(l.mean), zero: (l.zero_fraction * 100).toFixed(0) });
}
