// "get trained weights (size)" wherever a page has a .get-weights[data-model] spot (gallery cards, the
// explorer's untrained banner): starts the server-side fetch, shows its progress, and reloads the page
// onto the trained model when the import is done. Server strings are shown as text only.
import { t } from "./i18n.js";
import { el, fill, getJSON, readJSON } from "./lib.js";

const api = (name) => `/api/models/${encodeURIComponent(name)}/weights`;
const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const getStatus = (name) => getJSON(api(name)).catch(() => null); // null: no answer or an error

function say(msg, text, error = false) {
  msg.textContent = text;
  msg.classList.toggle("error", error);
}

async function follow(spot, btn, msg, name) {
  const bar = el("progress", { max: 1, value: 0, "aria-label": t("download progress") });
  spot.append(bar);
  for (;;) {
    const st = await getStatus(name);
    const job = st && st.job;
    if (!job) {
      say(msg, t("lost track of the download; reload the page"), true);
      return;
    }
    if (job.state === "downloading") {
      bar.max = job.total || 1;
      bar.value = job.done;
      say(msg, t("downloading: {done} of {total}", { done: mb(job.done), total: mb(job.total) }));
    } else if (job.state === "importing") {
      bar.value = bar.max;
      say(msg, t("sha256 checked; importing and verifying the weights…"));
    } else if (job.state === "done") {
      say(msg, t("trained weights imported; switching to them…"));
      spot.dataset.state = "done";
      location.reload();
      return;
    } else {
      bar.remove();
      // the server's words (English, naming the mirror and the file) after a lead in the page's language
      say(msg, job.error ? t("the download failed: {why}", { why: job.error }) : t("the download failed"), true);
      btn.disabled = false;
      return;
    }
    await sleep(400);
  }
}

async function start(spot, btn, msg, name) {
  btn.disabled = true;
  say(msg, t("starting the download…"));
  try {
    await readJSON(await fetch(api(name), { method: "POST" }), t("the download could not start"));
  } catch (err) { // an answer with an error status, or none at all
    say(msg, err.status ? err.message : t("the server did not answer"), true);
    btn.disabled = false;
    return;
  }
  follow(spot, btn, msg, name);
}

async function offer(spot) {
  const name = spot.dataset.model;
  const st = await getStatus(name);
  if (!st || !st.offer) return;
  const btn = el("button", { type: "button", class: "get-weights-button" },
    t("get trained weights ({size})", { size: mb(st.offer.size) }));
  const msg = el("span", { class: "get-weights-status", role: "status", "aria-live": "polite" });
  btn.addEventListener("click", () => start(spot, btn, msg, name));
  fill(spot, btn, " ", msg);
  if (st.job && (st.job.state === "downloading" || st.job.state === "importing")) {
    btn.disabled = true;
    follow(spot, btn, msg, name);
  }
}

document.querySelectorAll(".get-weights[data-model]").forEach((spot) => offer(spot));
