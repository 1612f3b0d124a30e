// kiln studio's metric charts (uPlot): one chart per metric, one line per series (a job), step or time on the
// x axis, exponential smoothing (TensorBoard's, debiased) and a log scale. Series grow as points arrive.
(function () {
  "use strict";
  const COLORS = ["#1d4ed8", "#b91c1c", "#15803d", "#a16207", "#7e22ce", "#0e7490", "#be185d", "#4d7c0f"];
  const num = (v) => { const n = typeof v === "number" ? v : Number(v); return Number.isFinite(n) ? n : null; };

  function smooth(values, weight) {
    if (!weight) return values;
    const out = new Array(values.length); let last = 0; let count = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v; count++;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  // A set of charts (by metric) over several series (by label), redrawn when points or options change.
  function ChartSet(container, options) {
    this.container = container; this.options = Object.assign({ x: "step", smoothing: 0, log: false }, options || {});
    this.metrics = new Map(); // metric -> Map(label -> {steps, times, values})
    this.charts = new Map(); // metric -> {box, plot, shape}
    this.labels = [];
  }

  ChartSet.prototype.add = function (label, metrics) {
    if (!this.labels.includes(label)) this.labels.push(label);
    for (const [key, h] of Object.entries(metrics)) {
      if (!this.metrics.has(key)) this.metrics.set(key, new Map());
      const byLabel = this.metrics.get(key);
      if (!byLabel.has(label)) byLabel.set(label, { steps: [], times: [], values: [] });
      const s = byLabel.get(label);
      for (let i = 0; i < h.steps.length; i++) { s.steps.push(h.steps[i]); s.times.push(h.timestamps[i] / 1000); s.values.push(num(h.values[i])); }
    }
  };

  ChartSet.prototype.set = function (option, value) { this.options[option] = value; this.draw(true); };

  ChartSet.prototype.data = function (byLabel) {
    const labels = this.labels.filter((l) => byLabel.has(l));
    const tables = labels.map((label) => {
      const s = byLabel.get(label); const xs = this.options.x === "time" ? s.times : s.steps;
      const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
      const x = []; const y = []; let previous = null;
      const ys = smooth(order.map((i) => s.values[i]), this.options.smoothing);
      order.forEach((i, k) => { if (xs[i] === previous) { y[y.length - 1] = ys[k]; return; } previous = xs[i]; x.push(xs[i]); y.push(ys[k]); });
      return [x, this.options.log ? y.map((v) => (v !== null && v > 0 ? v : null)) : y];
    });
    return { labels, data: tables.length === 1 ? tables[0] : uPlot.join(tables) };
  };

  ChartSet.prototype.draw = function (rebuild) {
    const keys = Array.from(this.metrics.keys()).sort();
    for (const key of keys) {
      const { labels, data } = this.data(this.metrics.get(key));
      const shape = [this.options.x, this.options.log, labels.join("\u0000")].join("|");
      let chart = this.charts.get(key);
      if (!chart) {
        const box = document.createElement("figure"); box.className = "chart"; box.dataset.metric = key;
        const caption = document.createElement("figcaption"); caption.textContent = key; box.appendChild(caption);
        const area = document.createElement("div"); area.setAttribute("role", "img"); box.appendChild(area);
        this.container.appendChild(box); chart = { box, area, plot: null, shape: "" }; this.charts.set(key, chart);
      }
      const points = data[1] ? data[1].length : 0;
      chart.box.dataset.points = String(points);
      chart.area.setAttribute("aria-label", `Chart of ${key} by ${this.options.x} for ${labels.join(", ")}: ${points} points`);
      if (chart.plot && chart.shape === shape && !rebuild) { chart.plot.setData(data); continue; }
      if (chart.plot) chart.plot.destroy();
      const width = Math.max(Math.min(this.container.clientWidth - 8, 640), 280);
      chart.plot = new uPlot({
        width, height: 220, legend: { show: true },
        scales: { x: { time: this.options.x === "time" }, y: this.options.log ? { distr: 3 } : {} },
        axes: [{ label: this.options.x === "time" ? "" : "step" }, {}],
        series: [{ label: this.options.x }].concat(labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } }))),
      }, data, chart.area);
      chart.shape = shape;
    }
  };

  window.kilnCharts = { ChartSet, smooth };
})();
