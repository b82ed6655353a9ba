// linewatch console: progressive enhancement only; every form works without JS.
"use strict";

function runCheck(form) {
  const button = form.querySelector("#run-check");
  const status = form.querySelector("#check-status");
  const csrf = form.querySelector("input[name=csrf]").value;
  const started = Date.now();
  button.disabled = true;
  const tick = () => {
    const s = Math.floor((Date.now() - started) / 1000);
    status.innerHTML = '<span class="spinner" aria-hidden="true"></span>';
    status.append(`Checking the line… ${s} s elapsed`);
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
      status.textContent = `Check failed: ${body.error || resp.status}`;
      return;
    }
    document.getElementById("verdict").innerHTML = body.html;
    const timeline = document.getElementById("timeline-list");
    if (timeline && body.timeline) timeline.innerHTML = body.timeline;
    status.textContent = body.fresh
      ? `Check finished in ${secs} s: fresh result, verdict updated.`
      : `No fresh result after ${secs} s (no agent answered); showing the last known verdict.`;
    status.dataset.done = body.fresh ? "fresh" : "stale";
  }).catch((err) => {
    status.textContent = `Check failed: ${err}`;
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
        updated.textContent = `Last update ${body.updated}.`;
        const plants = body.plant_faults || [];
        const silent = body.silent_agents || [];
        const now = `${body.outages.join(", ")}|${plants.join(", ")}|${silent.join(", ")}`;
        if (known !== null && now !== known) {
          const parts = [];
          parts.push(body.outages.length
            ? `Outage on node ${body.outages.join(", ")}.` : "No node has an outage now.");
          if (plants.length) parts.push(`Plant fault ${plants.join(", ")}.`);
          if (silent.length) parts.push(`Agent ${silent.join(", ")} silent: its accounts are unknown.`);
          alertBox.textContent = parts.join(" ");
        }
        known = now;
      })
      .catch((err) => { updated.textContent = `Update failed (${err.message}); retrying.`; })
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
