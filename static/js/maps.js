// Shared by the pages: decode convscope's 8-bit activation maps and paint them on canvases.
// Format (see app/inference/run.py): base64 of channels*height*width bytes; byte v of channel c
// stands for min[c] + v/255 * (max[c] - min[c]).
import { t } from "./i18n.js";

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

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
export { fmt };

let tip;
function tooltip() {
  if (!tip) {
    tip = document.createElement("div");
    tip.className = "tip";
    document.body.append(tip);
  }
  return tip;
}

// Paint channels [0, maps.channels) of one layer into `grid`, one canvas per channel.
export function paintMaps(grid, maps, { scale = 3, label = t("ch"), decorate = null } = {}) {
  const bytes = decode(maps);
  const { height: h, width: w } = maps;
  const per = h * w;
  const px = Math.max(1, Math.round(scale));
  for (let c = 0; c < maps.channels; c++) {
    const cv = document.createElement("canvas");
    cv.width = w;
    cv.height = h;
    cv.className = "map";
    cv.style.width = `${w * px}px`;
    cv.style.height = `${h * px}px`;
    const ctx = cv.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < per; i++) {
      const v = bytes[c * per + i];
      img.data[i * 4] = LUT[v * 3];
      img.data[i * 4 + 1] = LUT[v * 3 + 1];
      img.data[i * 4 + 2] = LUT[v * 3 + 2];
      img.data[i * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const ch = maps.offset + c, lo = maps.min[c], hi = maps.max[c];
    cv.dataset.channel = ch;
    cv.addEventListener("mousemove", (e) => {
      const r = cv.getBoundingClientRect();
      const x = Math.min(w - 1, Math.floor(((e.clientX - r.left) / r.width) * w));
      const y = Math.min(h - 1, Math.floor(((e.clientY - r.top) / r.height) * h));
      const v = lo + (bytes[c * per + y * w + x] / 255) * (hi - lo);
      const box = tooltip();
      box.textContent = h === 1 ? t("unit {x}: {v}", { x, v: fmt(v) }) : `${label} ${ch} (${x}, ${y}): ${fmt(v)}`;
      box.style.left = `${e.pageX + 12}px`;
      box.style.top = `${e.pageY + 12}px`;
      box.hidden = false;
    });
    cv.addEventListener("mouseleave", () => { tooltip().hidden = true; });
    // cell selection (static/js/unit.js): the byte of cell (y, x) decoded back into its value
    decorate?.(cv, { channel: ch, h, w, valueAt: (y, x) => lo + (bytes[c * per + y * w + x] / 255) * (hi - lo) });
    grid.append(cv);
  }
}

export function statsText(l) {
  return t("min {min} · max {max} · mean {mean} · {zero}% zero", {
    min: fmt(l.min), max: fmt(l.max), mean: fmt(l.mean), zero: (l.zero_fraction * 100).toFixed(0) });
}

export async function postJSON(url, body, signal) {
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal,
  });
  const data = await res.json().catch(() => ({ error: { message: `HTTP ${res.status}` } }));
  if (!res.ok) {
    const err = new Error(data.error ? data.error.message : `HTTP ${res.status}`);
    err.status = res.status;
    err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}
