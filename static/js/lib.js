// Small DOM helpers shared by the pages: build elements from data without ever parsing HTML.
// Every string becomes a text node or an attribute value, so a server string (a model file's name,
// a sidecar title, a layer name, an error message) can never turn into markup or script.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") node.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  append(node, ...children);
  return node;
}

// Append children: strings and numbers as text, nodes as they are, arrays flattened, null/false skipped.
export function append(node, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// el("td", { class: "num", dataset: { layer: name } }, "text", otherNode, ...)
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// The same for SVG elements (svg("circle", { cx: 1, cy: 2, r: 5 }, svg("title", {}, label))).
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// Replace an element's contents with the given children (text or nodes).
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, ...children);
}

// ---- numbers: one set of formatters for every page. The server's templates group digits the same way
// (the "commas" filter in app/web/routes/pages.py: f"{n:,}").

// Every digit, grouped by thousands, as the tables print them (295,168); "?" when unknown.
export const full = (n) => (n == null ? "?" : Number(n).toLocaleString("en-US"));

// Three significant digits with an SI suffix (1G, 100M, 11.7M, 61.7k); "?" when unknown.
export function si(n) {
  if (n == null) return "?";
  for (const [u, d] of [["G", 1e9], ["M", 1e6], ["k", 1e3]]) {
    if (Math.abs(n) >= d) return `${Number((n / d).toPrecision(3))}${u}`;
  }
  return `${n}`;
}

// A measured value (an activation, a weight, a norm): whole from 100 up, two decimals from 1, else 3 digits;
// "—" when unknown.
export const fmt = (v) => (v == null ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

// A probability or fraction as a percentage's number, `digits` decimals (0.9512 -> "95.1"); the "%" is the caller's
// (translated sentences place it).
export const pct = (p, digits = 1) => (p * 100).toFixed(digits);

// Three significant digits (an AUC, a correlation), whole from 100 up; "—" when unknown.
export const sig3 = (v) => (v == null ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

// ---- fetching JSON: every answer is read here, so that an error says the same everywhere. A non-2xx
// answer throws an Error with the server's message ({error: {message, code}}; `fallback`, else "HTTP 500",
// when it gives none) and its status and code.
export async function readJSON(res, fallback = `HTTP ${res.status}`) {
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((data.error && data.error.message) || fallback);
    err.status = res.status;
    err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}

export const getJSON = async (url) => readJSON(await fetch(url));

export async function postJSON(url, body, signal) {
  return readJSON(await fetch(url, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal,
  }));
}
