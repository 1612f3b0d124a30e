// An endpoint's page: live metrics from endpoints.metrics_stream (server-sent events), the traffic form
// (PATCH endpoints.update), the test form (endpoints.invoke: the browser holds no key), keys on request.
(function () {
  "use strict";
  const root = document.getElementById("endpoint"); if (!root) return;
  const WINDOW = 60; // seconds of request rate in the chart

  const fixed = (value, digits) => (value === null || value === undefined ? "—" : Number(value).toFixed(digits));
  const SHOW = {
    rate_per_s: (v) => fixed(v, 1), latency_p50_ms: (v) => fixed(v, 2), latency_p90_ms: (v) => fixed(v, 2),
    latency_p99_ms: (v) => fixed(v, 2), error_rate: (v) => fixed(v * 100, 1) + " %", requests: String, errors: String,
  };

  // Live metrics -----------------------------------------------------------------------------------
  const times = []; const rates = {}; let chart = null; let names = [];
  function drawChart() {
    const box = document.getElementById("rate-chart"); if (!box || !window.uPlot) return;
    const palette = ["#1d4ed8", "#b45309", "#15803d", "#7e22ce", "#b91c1c"];
    const series = [{}].concat(names.map((name, i) => ({ label: name, stroke: palette[i % palette.length], width: 2 })));
    if (chart) chart.destroy();
    chart = new uPlot({ width: Math.max(box.clientWidth - 8, 280), height: 170, series,
      axes: [{}, { label: "req/s" }], scales: { x: { time: true } } }, [times].concat(names.map((n) => rates[n])), box);
  }
  function onSnapshot(snapshot) {
    const now = Date.now() / 1000; times.push(now); if (times.length > WINDOW) times.shift();
    const seen = Object.keys(snapshot.deployments);
    let fresh = false;
    seen.forEach((name) => { if (!(name in rates)) { rates[name] = times.slice(0, -1).map(() => null); names.push(name); fresh = true; } });
    names.forEach((name) => {
      const metrics = snapshot.deployments[name];
      rates[name].push(metrics ? metrics.rate_per_s : null); if (rates[name].length > times.length) rates[name].shift();
      const row = root.querySelector('tr[data-deployment="' + CSS.escape(name) + '"]'); if (!row || !metrics) return;
      row.querySelectorAll("[data-live]").forEach((cell) => { cell.textContent = SHOW[cell.dataset.live](metrics[cell.dataset.live]); });
    });
    if (fresh || !chart) drawChart(); else chart.setData([times].concat(names.map((n) => rates[n])));
  }
  const state = document.getElementById("live-state");
  const source = new EventSource(root.dataset.stream);
  source.addEventListener("snapshot", (event) => { state.textContent = "live"; onSnapshot(JSON.parse(event.data)); });
  source.addEventListener("error", () => {
    state.textContent = source.readyState === EventSource.CLOSED ? "stopped (sign in again to resume)" : "reconnecting…";
  });
  window.addEventListener("pagehide", () => source.close());

  // The traffic split ------------------------------------------------------------------------------
  const split = document.getElementById("traffic-form");
  function shares(kind) {
    const found = {};
    split.querySelectorAll('input[data-share="' + kind + '"]').forEach((input) => {
      const value = parseInt(input.value || "0", 10); if (value > 0) found[input.dataset.deployment] = value;
    });
    return found;
  }
  function showTotal() {
    const total = Object.values(shares("traffic")).reduce((a, b) => a + b, 0);
    document.getElementById("traffic-total").textContent = "now " + total + " %";
  }
  function describe(map) {
    const parts = Object.entries(map).map(([name, share]) => name + " " + share + " %"); return parts.length ? parts.join(", ") : "none";
  }
  if (split) {
    split.addEventListener("input", showTotal); showTotal();
    split.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = split.querySelector("button[type=submit]"); button.disabled = true;
      try {
        const response = await kiln.write(root.dataset.update, { method: "PATCH", json: { traffic: shares("traffic"), mirror_traffic: shares("mirror") } });
        const view = await response.json();
        root.querySelectorAll("[data-traffic-of]").forEach((cell) => { cell.textContent = (view.traffic[cell.dataset.trafficOf] || 0) + " %"; });
        root.querySelectorAll("[data-mirror-of]").forEach((cell) => { cell.textContent = (view.mirror_traffic[cell.dataset.mirrorOf] || 0) + " %"; });
        document.getElementById("traffic-now").textContent = describe(view.traffic);
        document.getElementById("mirror-now").textContent = describe(view.mirror_traffic);
        kiln.toast("Traffic is now " + describe(view.traffic) + ".");
      } catch (e) { /* told already */ } finally { button.disabled = false; }
    });
  }

  // The test form ----------------------------------------------------------------------------------
  const test = document.getElementById("invoke-form");
  if (test) {
    test.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("invoke-answer"); out.textContent = "";
      let body;
      try { body = JSON.parse(document.getElementById("invoke-body").value); }
      catch (e) { const p = document.createElement("p"); p.className = "error"; p.textContent = "The request body is not JSON: " + e.message; out.appendChild(p); return; }
      const deployment = document.getElementById("invoke-deployment").value || null;
      try {
        const answer = await (await kiln.write(root.dataset.invoke, { json: { body, deployment } })).json();
        const head = document.createElement("p");
        head.textContent = "Status " + answer.status + (answer.deployment ? " · answered by " + answer.deployment : "");
        if (answer.status >= 400) head.className = "error";
        const pre = document.createElement("pre"); pre.id = "invoke-result"; pre.tabIndex = 0;
        pre.textContent = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body, null, 2);
        out.append(head, pre);
      } catch (e) { /* told already */ }
    });
  }

  // Keys, on request (owners) ----------------------------------------------------------------------
  const keysButton = document.getElementById("show-keys");
  if (keysButton) {
    keysButton.addEventListener("click", async () => {
      try {
        const keys = await (await kiln.write(root.dataset.keys)).json();
        document.getElementById("primary-key").textContent = keys.primary_key;
        document.getElementById("secondary-key").textContent = keys.secondary_key;
        document.getElementById("keys").hidden = false; keysButton.hidden = true;
      } catch (e) { /* told already */ }
    });
  }
})();

// The latest rollout (rollouts.show, polled while the page is open): its steps, each window's numbers, its outcome.
(function () {
  "use strict";
  const root = document.getElementById("endpoint"); const box = document.getElementById("rollout");
  if (!root || !box || !root.dataset.rollout) return;
  const POLL_MS = 1000;
  const percent = (value) => (value * 100).toFixed(2) + " %";
  function cell(row, text, numeric) {
    const td = document.createElement("td"); td.textContent = text; if (numeric) td.className = "num"; row.appendChild(td);
  }
  function render(view) {
    box.hidden = false;
    document.getElementById("rollout-deployment").textContent = view.deployment;
    const status = document.getElementById("rollout-status");
    status.textContent = view.status.replace("_", " "); status.className = "badge " + view.status;
    document.getElementById("rollout-limits").textContent = "limits: error rate " + percent(view.max_error_rate) +
      (view.max_p99_ms !== null ? ", p99 " + view.max_p99_ms + " ms" : "") + "; a window of " + view.window_seconds +
      " s per step; traffic before: " + Object.entries(view.traffic_before).map(([n, s]) => n + " " + s + " %").join(", ");
    const planned = (view.mirror ? [["mirror", view.mirror]] : []).concat(view.steps.map((s) => ["traffic", s]));
    const body = box.querySelector("tbody"); body.textContent = "";
    planned.forEach(([phase, share], index) => {
      const seen = view.windows[index]; const row = document.createElement("tr"); row.dataset.step = String(index);
      const th = document.createElement("th"); th.scope = "row";
      th.textContent = phase === "mirror" ? "mirror " + share + " %" : share + " % live"; row.appendChild(th);
      cell(row, seen ? seen.state : view.status === "running" ? "pending" : "skipped");
      cell(row, seen ? String(seen.requests) : "—", true); cell(row, seen ? String(seen.errors) : "—", true);
      cell(row, seen ? percent(seen.error_rate) : "—", true);
      cell(row, seen && seen.latency_p99_ms !== null ? Number(seen.latency_p99_ms).toFixed(2) : "—", true);
      body.appendChild(row);
    });
    document.getElementById("rollout-reason").textContent = view.reason ? "reason: " + view.reason : "";
    const now = document.getElementById("traffic-now");
    if (now) now.textContent = Object.entries(view.traffic).map(([n, s]) => n + " " + s + " %").join(", ") || "none";
    return view.status === "running";
  }
  let timer = null;
  async function poll() {
    let running = false;
    try {
      const response = await fetch(root.dataset.rollout, { headers: { Accept: "application/json" } });
      if (response.ok) running = render(await response.json()); // 404: the endpoint has had no rollout
    } catch (error) { /* the next poll tries again */ }
    timer = setTimeout(poll, running ? POLL_MS : 5 * POLL_MS); // slower while none runs, to see the next one start
  }
  poll();
  window.addEventListener("pagehide", () => clearTimeout(timer));
})();
