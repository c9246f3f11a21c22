// Shared by the pages: decode convscope's 8-bit activation maps and paint them on canvases.
// Format (see app/serving/run.py): base64 of channels*height*width bytes; byte v of channel c
// stands for min[c] + v/255 * (max[c] - min[c]).
import { t } from "./i18n.js";
import { fmt, pct } from "./lib.js";

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

// LUT as one little-endian RGBA word per byte value (opaque), for writing a whole pixel at a time
const LUT32 = (() => {
  const out = new Uint32Array(256);
  for (let v = 0; v < 256; v++) out[v] = (255 << 24 | LUT[v * 3 + 2] << 16 | LUT[v * 3 + 1] << 8 | LUT[v * 3]) >>> 0;
  return out;
})();

// One channel's bytes -> its pixels through the colour table; with `range` ([min, max] shared by a layer) each
// byte is first turned back into its value (lo..hi) and rescaled to that range.
function colour(px, bytes, base, per, lo, hi, range) {
  let table = LUT32;
  if (range && range[1] > range[0]) {
    table = new Uint32Array(256);
    const k = (hi - lo) / 255 / (range[1] - range[0]) * 255, o = (lo - range[0]) / (range[1] - range[0]) * 255;
    for (let b = 0; b < 256; b++) table[b] = LUT32[Math.max(0, Math.min(255, Math.round(b * k + o)))];
  }
  for (let i = 0; i < per; i++) px[i] = table[bytes[base + i]];
}

// Paint channels [0, maps.channels) of one layer into `grid`, one canvas per channel.
// side: CSS pixels for the map's largest side (default: `scale` pixels per cell);
// range: [min, max] for one colour scale across the layer (default: each channel its own min..max);
// labels: names of a vector's units (e.g. the digits), shown under its cells.
// decorate: cell selection (static/js/unit.js), called with each canvas and its geometry (cols: a vector's
// units per row of its wrapped grid).
// Returns a painter: `fits(maps)` says whether a later answer has the same geometry, and `paint(maps, range,
// bytes)` repaints the same canvases in place (putImageData into kept ImageData: no new elements, no layout).
export function paintMaps(grid, maps, { scale = 3, label = t("ch"), side = null, range = null, labels = null, decorate = null } = {}) {
  const { height: h, width: w, channels, offset } = maps;
  const per = h * w;
  const vec = h === 1 ? vectorGrid(w) : null;
  const gw = vec ? vec.cols : w, gh = vec ? vec.rows : h;
  const px = vec ? vec.cell : side ? side / Math.max(h, w) : Math.max(1, Math.round(scale));
  const cells = [];
  for (let c = 0; c < channels; c++) {
    const cv = document.createElement("canvas");
    cv.width = gw;
    cv.height = gh;
    cv.className = vec ? "map vector" : "map";
    cv.style.width = `${Math.round(gw * px)}px`;
    cv.style.height = `${Math.round(gh * px)}px`;
    const ctx = cv.getContext("2d");
    const img = ctx.createImageData(gw, gh);
    // what the canvas shows now (replaced by each paint): cell i's value is lo + byte/255 * (hi - lo)
    const cell = { ctx, img, px: new Uint32Array(img.data.buffer), bytes: null, lo: 0, hi: 0 };
    cells.push(cell);
    const ch = offset + c;
    const value = (i) => cell.lo + (cell.bytes[c * per + i] / 255) * (cell.hi - cell.lo);
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
  const painter = {
    fits: (m) => m.height === h && m.width === w && m.channels === channels && m.offset === offset
      && (m.downsample || 1) === (maps.downsample || 1),
    paint(m, r = null, bytes = decode(m)) {
      cells.forEach((cell, c) => {
        cell.bytes = bytes;
        cell.lo = m.min[c];
        cell.hi = m.max[c];
        colour(cell.px, bytes, c * per, per, cell.lo, cell.hi, r);
        cell.ctx.putImageData(cell.img, 0, 0);
      });
    },
  };
  painter.paint(maps, range);
  return painter;
}

export function statsText(l) {
  return t("min {min} · max {max} · mean {mean} · {zero}% zero", {
    min: fmt(l.min), max: fmt(l.max), mean: fmt(l.mean), zero: pct(l.zero_fraction, 0) });
}
