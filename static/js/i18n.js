// The page's language: t("message {name}", {name}) looks the English message up in the catalog the
// server put in <script id="i18n-data" type="application/json"> (the same .po files as the templates).
const node = document.getElementById("i18n-data");
const messages = node ? JSON.parse(node.textContent) : {};

export const lang = document.documentElement.dataset.lang || "en";

export function t(message, params = {}) {
  const s = messages[message] || message;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}
