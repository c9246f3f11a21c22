// "Predict the shape": hide each layer's output and parameter columns; the student types both, is told
// right or wrong, and can reveal the worked arithmetic (the layer's explain formulas). Keyboard only works:
// Tab to a field, Enter checks the row.
import { t } from "./i18n.js";
import { el, fill } from "./lib.js";

const table = document.getElementById("layer-table");
const toggle = document.getElementById("predict-toggle");
const model = JSON.parse(document.getElementById("model-data").textContent);
const score = document.getElementById("predict-score");
const results = new Map(); // row index -> true/false

const numbers = (s) => (String(s).match(/\d+/g) || []).map(Number);
const digits = (s) => String(s).replace(/[^\d]/g, "");

function report() {
  const right = [...results.values()].filter(Boolean).length;
  score.textContent = results.size ? t("{right} of {tried} right", { right, tried: results.size }) : "";
}

function check(row, i, layer) {
  const shapeIn = row.querySelector(".predict-shape"), paramsIn = row.querySelector(".predict-params");
  const fb = row.querySelector(".predict-feedback");
  const want = layer.output_shape || [];
  const got = numbers(shapeIn.value);
  const shapeOk = got.length === want.length && got.every((v, k) => v === want[k]);
  const paramsOk = digits(paramsIn.value) !== "" && Number(digits(paramsIn.value)) === layer.params;
  const wrong = [];
  if (!shapeOk) wrong.push(t("the output shape"));
  if (!paramsOk) wrong.push(t("the parameter count"));
  shapeIn.setAttribute("aria-invalid", String(!shapeOk));
  paramsIn.setAttribute("aria-invalid", String(!paramsOk));
  fb.className = `predict-feedback ${wrong.length ? "wrong" : "right"}`;
  const and = t(" and ");
  fb.textContent = wrong.length ? t("Not quite: check {what}.", { what: wrong.join(and) }) : t("Right!");
  results.set(i, wrong.length === 0);
  report();
}

function working(row, layer, button) {
  const box = row.querySelector(".predict-working");
  if (!box.hidden) { box.hidden = true; button.setAttribute("aria-expanded", "false"); return; }
  const formulas = (layer.explain && layer.explain.formulas) || layer.arithmetic || [];
  fill(box, el("ol", { class: "formulas" }, formulas.map((f) => el("li", {}, el("code", {}, f)))));
  box.hidden = false;
  button.setAttribute("aria-expanded", "true");
}

function build() {
  [...table.tBodies[0].rows].filter((r) => !r.classList.contains("part")).forEach((row, i) => {
    const layer = model.layers[i];
    if (!layer || row.querySelector(".predict-shape")) return;
    const name = layer.name;
    const [outCell, arithCell, paramsCell] = [row.cells[3], row.cells[4], row.cells[5]];
    // output, its arithmetic, params and %, and what would give them away (MACs and %, activation count)
    for (const c of [outCell, arithCell, paramsCell, row.cells[6], row.cells[7], row.cells[8], row.cells[10]]) {
      if (!c) continue;
      const ans = el("span", { class: "answer" });
      ans.append(...c.childNodes);
      c.append(ans);
    }
    const onKey = (e) => { if (e.key === "Enter") { e.preventDefault(); check(row, i, layer); } };
    outCell.append(el("input", { class: "predict-in predict-shape", type: "text", inputmode: "numeric", size: 11,
      "aria-label": t("output shape of {name}", { name }), placeholder: (layer.output_shape || []).length === 3 ? "C×H×W" : "N", onkeydown: onKey }));
    paramsCell.append(el("input", { class: "predict-in predict-params", type: "text", inputmode: "numeric", size: 10,
      "aria-label": t("parameters of {name}", { name }), onkeydown: onKey }));
    const how = el("button", { type: "button", class: "predict-in", "aria-expanded": "false" }, t("Show working"));
    how.addEventListener("click", () => working(row, layer, how));
    arithCell.append(
      el("span", { class: "predict-in predict-actions" },
        el("button", { type: "button", onclick: () => check(row, i, layer) }, t("Check")), " ", how),
      el("span", { class: "predict-in predict-feedback", role: "status", "aria-live": "polite" }),
      el("div", { class: "predict-in predict-working", hidden: true }));
  });
}

function setMode(on) {
  if (on) build();
  table.classList.toggle("predicting", on);
  toggle.setAttribute("aria-pressed", String(on));
  document.getElementById("predict-help").hidden = !on;
  score.hidden = !on;
  if (on) table.querySelector(".predict-shape")?.focus();
}

if (table && toggle) toggle.addEventListener("click", () => setMode(toggle.getAttribute("aria-pressed") !== "true"));

// A layer's "?" link opens its explanation as well as scrolling to it.
for (const a of document.querySelectorAll("#layer-table a.why")) {
  a.addEventListener("click", () => {
    const box = document.getElementById(a.getAttribute("href").slice(1));
    if (box) box.open = true;
  });
}
