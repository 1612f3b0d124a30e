// A job's page: its log as it is written (fetch streaming of GET /api/v1/jobs/NAME/logs?follow=true) and its
// metric charts as they grow (server-sent events of GET /api/v1/jobs/NAME/metrics/stream); both end with the job.
(function () {
  "use strict";
  const LOG_KEEP = 2 * 1024 * 1024; // characters kept on the page (the whole log stays downloadable)
  const TERMINAL = ["completed", "failed", "canceled"];

  function showStatus(status) {
    const badge = document.getElementById("job-status"); if (!badge || !status) return;
    badge.textContent = status; badge.className = "badge " + status;
    document.getElementById("job").dataset.status = status;
    const cancel = document.getElementById("cancel-job");
    if (cancel && TERMINAL.includes(status)) cancel.remove(); // nothing left to cancel
  }

  async function followLog(job) {
    const box = document.getElementById("log"); const state = document.getElementById("log-state");
    const live = !TERMINAL.includes(job.dataset.status);
    state.textContent = live ? "following…" : "";
    try {
      const response = await fetch(job.dataset.log + (live ? "?follow=true" : ""), { credentials: "same-origin" });
      if (!response.ok) { state.textContent = "the log could not be read (" + response.status + ")"; return; }
      const reader = response.body.getReader(); const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read(); if (done) break;
        const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
        box.textContent += decoder.decode(value, { stream: true });
        if (box.textContent.length > LOG_KEEP) box.textContent = "…" + box.textContent.slice(-LOG_KEEP);
        if (atEnd) box.scrollTop = box.scrollHeight;
      }
      state.textContent = box.textContent ? "" : "(empty)";
    } catch (e) { state.textContent = "the log stream was cut: reload to read on"; }
  }

  function followMetrics(job) {
    const note = document.getElementById("metrics-note");
    const charts = new kilnCharts.ChartSet(document.getElementById("charts"));
    document.getElementById("x-axis").addEventListener("change", (e) => charts.set("x", e.target.value));
    document.getElementById("log-scale").addEventListener("change", (e) => charts.set("log", e.target.checked));
    const slider = document.getElementById("smoothing");
    slider.addEventListener("input", () => { document.getElementById("smoothing-value").textContent = slider.value; charts.set("smoothing", Number(slider.value)); });
    const source = new EventSource(job.dataset.metrics);
    source.addEventListener("metrics", (event) => {
      charts.add(job.dataset.name, JSON.parse(event.data).metrics); charts.draw(false);
      note.textContent = "";
      if (!document.body.dataset.chartsDrawnMs) document.body.dataset.chartsDrawnMs = String(Math.round(performance.now()));
    });
    const wasLive = !TERMINAL.includes(job.dataset.status);
    source.addEventListener("end", (event) => {
      source.close(); showStatus(JSON.parse(event.data).status);
      // it ended while shown: its timings, params and output files once more (the live parts stay as they are)
      if (wasLive && window.htmx) htmx.ajax("GET", location.pathname, { target: "#job-details", select: "#job-details", swap: "outerHTML" });
      if (!charts.metrics.size) note.textContent = "No metrics logged.";
    });
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) note.textContent = "The metric stream ended: reload to read on."; };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const job = document.getElementById("job"); if (!job) return;
    followLog(job); followMetrics(job);
  });
})();
