// The compare page: every job's series (thinned on the server, in the page) overlaid, one chart per metric.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const holder = document.getElementById("compare-series"); if (!holder) return;
    const charts = new kilnCharts.ChartSet(document.getElementById("charts"));
    for (const [name, view] of Object.entries(JSON.parse(holder.textContent))) charts.add(name, view.metrics);
    charts.draw(true);
    document.getElementById("x-axis").addEventListener("change", (e) => charts.set("x", e.target.value));
    document.getElementById("log-scale").addEventListener("change", (e) => charts.set("log", e.target.checked));
    const slider = document.getElementById("smoothing");
    slider.addEventListener("input", () => { document.getElementById("smoothing-value").textContent = slider.value; charts.set("smoothing", Number(slider.value)); });
  });
})();
