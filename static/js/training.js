// Live metric curves on a training run page (polls metrics.json while the run is active) and the
// accuracy bar chart of the comparison page. The pages work without this: the data is also a link / table.
(function () {
  "use strict";
  // Small multiples: what tells whether training works comes first (loss, rewards, KL, accuracy), the rest by name.
  const FIRST = [/(^|\/)loss$/, /reward/, /(^|\/)kl$/, /accuracy/];
  function rank(name) {
    const i = FIRST.findIndex(function (re) { return re.test(name); });
    return i < 0 ? FIRST.length : i;
  }
  function before(a, b) {
    return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  }
  function lineChart(grid, name) {
    const box = document.createElement("figure");
    box.className = "chart";
    box.dataset.name = name;
    box.innerHTML = "<figcaption></figcaption><canvas height='190'></canvas>";
    box.querySelector("figcaption").textContent = name;
    // a series first logged in a later poll still takes its place in the order
    const next = [...grid.children].find(function (f) { return before(name, f.dataset.name) < 0; });
    grid.insertBefore(box, next || null);
    return new Chart(box.querySelector("canvas"), {
      type: "line",
      data: { datasets: [{ label: name, data: [], pointRadius: 0, borderWidth: 1.5 }] },
      options: { animation: false, parsing: false, normalized: true, plugins: { legend: { display: false },
        decimation: { enabled: true, algorithm: "lttb", samples: 500 } },
        scales: { x: { type: "linear", title: { display: true, text: "step" } } } },
    });
  }
  function metrics(section) {
    const grid = document.getElementById("chart-grid");
    const charts = {};
    let after = -1;
    async function poll() {
      const resp = await fetch(section.dataset.url + "?after=" + after, { headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      const body = await resp.json();
      let last = after;
      for (const [name, points] of Object.entries(body.series).sort()) {
        const chart = charts[name] || (charts[name] = lineChart(grid, name));
        for (const [x, y] of points) {
          if (chart.lastX !== undefined && x <= chart.lastX) continue;
          chart.data.datasets[0].data.push({ x: x, y: y });
          chart.lastX = x;
          last = Math.max(last, x);
        }
        chart.update("none");
      }
      // a step can log several names at different times: re-read the newest step next time
      after = last - 1;
      if (body.active) setTimeout(poll, 2000);
    }
    poll();
  }
  function compare() {
    const data = JSON.parse(document.getElementById("compare-data").textContent);
    // One floating bar per run and slice spans the 95% CI; a black tick across it marks the accuracy.
    const datasets = data.runs.map(function (run, i) {
      const hue = (i * 67) % 360;
      return { label: run.label + " (95% CI)", borderWidth: 1, borderColor: "hsl(" + hue + ", 55%, 40%)",
        backgroundColor: "hsla(" + hue + ", 55%, 45%, 0.35)",
        data: run.low.map(function (lo, k) { return lo === null ? null : [lo, run.high[k]]; }) };
    });
    const accuracyTicks = { id: "accuracyTicks", afterDatasetsDraw: function (chart) {
      const ctx = chart.ctx, y = chart.scales.y;
      ctx.save();
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 2;
      chart.data.datasets.forEach(function (_d, i) {
        chart.getDatasetMeta(i).data.forEach(function (bar, k) {
          const acc = data.runs[i].accuracy[k];
          if (acc === null || acc === undefined || !bar) return;
          const half = bar.width / 2, py = y.getPixelForValue(acc);
          ctx.beginPath(); ctx.moveTo(bar.x - half, py); ctx.lineTo(bar.x + half, py); ctx.stroke();
        });
      });
      ctx.restore();
    } };
    new Chart(document.getElementById("chart-compare"), {
      type: "bar", data: { labels: data.labels, datasets: datasets }, plugins: [accuracyTicks],
      options: { animation: false, scales: { y: { min: 0, max: 1, title: { display: true, text: "accuracy" } } },
        plugins: { tooltip: { callbacks: { label: function (ctx) {
          const run = data.runs[ctx.datasetIndex], k = ctx.dataIndex;
          if (run.accuracy[k] === null) return run.label + ": —";
          return run.label + ": " + run.accuracy[k].toFixed(3) + " [" + run.low[k].toFixed(3) + ", " +
            run.high[k].toFixed(3) + "]";
        } } } } },
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Chart === "undefined") return;
    const section = document.getElementById("metric-charts");
    if (section) metrics(section);
    if (document.getElementById("compare-data")) compare();
  });
})();
