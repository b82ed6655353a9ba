// linewatch console: progressive enhancement only; every form works without JS.
// Words come from the page (data-msg-* attributes, in the agent's language) or
// from the server's answers; none are written here.
"use strict";

// A data-msg-NAME template of `el` with its {placeholders} filled.
function say(el, name, values) {
  const template = el.dataset[name] || "";
  return template.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all));
}

function runCheck(form) {
  const button = form.querySelector("#run-check");
  const status = form.querySelector("#check-status");
  const csrf = form.querySelector("input[name=csrf]").value;
  const started = Date.now();
  button.disabled = true;
  const tick = () => {
    const s = Math.floor((Date.now() - started) / 1000);
    status.innerHTML = '<span class="spinner" aria-hidden="true"></span>';
    status.append(say(form, "msgRunning", {seconds: s}));
  };
  tick();
  const timer = setInterval(tick, 1000);
  const lang = new URLSearchParams(location.search).get("lang") || "en";
  fetch(`${form.action}?lang=${encodeURIComponent(lang)}`, {
    method: "POST", credentials: "same-origin",
    headers: {"X-CSRF-Token": csrf, "Accept": "application/json"},
  }).then(async (resp) => {
    const body = await resp.json().catch(() => ({error: `HTTP ${resp.status}`}));
    const secs = Math.round((Date.now() - started) / 1000);
    if (!resp.ok) {
      status.textContent = say(form, "msgFailed", {error: body.error || resp.status});
      return;
    }
    document.getElementById("verdict").innerHTML = body.html;
    const timeline = document.getElementById("timeline-list");
    if (timeline && body.timeline) timeline.innerHTML = body.timeline;
    status.textContent = say(form, body.fresh ? "msgFresh" : "msgStale", {seconds: secs});
    status.dataset.done = body.fresh ? "fresh" : "stale";
  }).catch((err) => {
    status.textContent = say(form, "msgFailed", {error: err});
  }).finally(() => {
    clearInterval(timer);
    button.disabled = false;
  });
}

function pollNodes(table) {
  const url = table.dataset.poll;
  const updated = document.getElementById("ops-updated");
  const alertBox = document.getElementById("ops-alert");
  const agents = document.getElementById("agents");
  const plantTable = document.getElementById("plant-faults");
  let known = null;
  let rounds = 0;
  const poll = () => {
    rounds += 1;
    if (rounds > 20000) return; // bounded: ~11 h at 2 s; reload to continue
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then((resp) => resp.ok ? resp.json() : Promise.reject(new Error(`HTTP ${resp.status}`)))
      .then((body) => {
        table.tBodies[0].innerHTML = body.html;
        if (agents && body.agents_html) agents.tBodies[0].innerHTML = body.agents_html;
        if (plantTable && body.plant_html) plantTable.tBodies[0].innerHTML = body.plant_html;
        updated.textContent = body.updated;
        const plants = body.plant_faults || [];
        const silent = body.silent_agents || [];
        const now = `${body.outages.join(", ")}|${plants.join(", ")}|${silent.join(", ")}`;
        if (known !== null && now !== known) alertBox.textContent = body.alert;
        known = now;
      })
      .catch((err) => { updated.textContent = say(table, "msgFailed", {error: err.message}); })
      .finally(() => setTimeout(poll, 2000));
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("check-form");
  if (form) {
    form.addEventListener("submit", (ev) => { ev.preventDefault(); runCheck(form); });
  }
  const table = document.getElementById("nodes");
  if (table && table.dataset.poll) pollNodes(table);
});
