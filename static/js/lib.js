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
