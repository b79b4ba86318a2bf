// Live metric curves on a training run page (polls metrics.json while the run is active) and the
// accuracy bar chart of the comparison page. The pages work without this: the data is also a link / table.
(function () {
  "use strict";
  function lineChart(grid, name) {
    const box = document.createElement("figure");
    box.className = "chart";
    box.innerHTML = "<figcaption></figcaption><canvas height='160'></canvas>";
    box.querySelector("figcaption").textContent = name;
    grid.appendChild(box);
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
    new Chart(document.getElementById("chart-compare"), {
      type: "bar", data: { labels: data.labels, datasets: [{ label: "accuracy", data: data.accuracy }] },
      options: { animation: false, scales: { y: { min: 0, max: 1 } } },
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Chart === "undefined") return;
    const section = document.getElementById("metric-charts");
    if (section) metrics(section);
    if (document.getElementById("compare-data")) compare();
  });
})();
