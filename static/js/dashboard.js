// Review dashboard charts (Chart.js, vendored): progress per dataset and curator, decisions per day.
(function () {
  "use strict";
  const node = document.getElementById("dashboard-data");
  if (!node || !window.Chart) return;
  const data = JSON.parse(node.textContent);
  const colors = { accepted: "#3a8f4c", rejected: "#c0392b", flagged: "#d39e00", pending: "#9aa5b1", edit: "#2f5d9b", undo: "#777" };
  function stacked(id, labels, series) {
    const el = document.getElementById(id);
    if (!el) return;
    new Chart(el, {
      type: "bar",
      data: { labels: labels, datasets: series.map(function (s) { return { label: s[0], data: s[1], backgroundColor: colors[s[0]] || s[2] }; }) },
      options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
  }
  const ds = data.datasets;
  stacked("chart-datasets", ds.map(function (r) { return r.dataset; }),
    ["accepted", "rejected", "flagged", "pending"].map(function (k) { return [k, ds.map(function (r) { return r[k]; })]; }));
  function byAction(rows) {  // the per-curator and per-day charts count the same thing: review actions
    return [["accepted", "accept"], ["rejected", "reject"], ["edit", "edit"], ["flagged", "flag"], ["undo", "undo"]]
      .map(function (s) { return [s[0], rows.map(function (r) { return r[s[1]]; })]; });
  }
  const cs = data.curators;
  stacked("chart-curators", cs.map(function (r) { return r.curator; }), byAction(cs));
  const days = data.days;
  stacked("chart-days", days.map(function (r) { return r.day; }), byAction(days));
  const pairs = data.pairs || [];
  const pairsEl = document.getElementById("chart-pairs");
  if (pairsEl && pairs.length) {  // Cohen's kappa per pair of curators, on its own -1..1 scale
    new Chart(pairsEl, {
      type: "bar",
      data: { labels: pairs.map(function (r) { return r.pair + " (" + r.n + ")"; }),
              datasets: [{ label: "Cohen's κ", data: pairs.map(function (r) { return r.kappa; }), backgroundColor: "#2f5d9b" }] },
      options: { animation: false, responsive: true, scales: { y: { min: -1, max: 1 } } },
    });
  }
  document.body.dataset.chartsReady = "1";
})();
