/* Supervisor reports: the figures of /api/reports (desk/reports.py) drawn with the vendored
   Chart.js; every word from desk/labels.yml (`report:`). Text goes in with textContent only. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var W = {}, STATUS = {}, charts = {};
  window.__charts = charts;
  function w(k) { return W[k] || k; }
  function get(path) {
    return fetch(path, { credentials: "same-origin" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { j._status = r.status; return j; });
    });
  }
  var COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16", "#f97316"];
  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } } }, config.options || {});
    charts[id] = new Chart($(id), config);
  }
  function minutes(s) { return s === null || s === undefined ? null : Math.round(s / 6) / 10; }
  function pct(x) { return x === null || x === undefined ? null : Math.round(x * 1000) / 10; }
  function stacked(rows, keys, field) {
    // {period, <field>, count} rows -> one dataset per value of <field>
    var names = [];
    rows.forEach(function (r) { if (names.indexOf(r[field]) < 0) names.push(r[field]); });
    return names.map(function (n, i) {
      return { label: n || w("uncategorised"), backgroundColor: COLORS[i % COLORS.length],
        data: keys.map(function (k) {
          var hit = rows.filter(function (r) { return r.period === k && r[field] === n; })[0];
          return hit ? hit.count : 0;
        }) };
    });
  }
  function render(rep) {
    var keys = rep.periods, rows = rep.rows, t = rep.totals;
    var box = $("totals"); box.textContent = "";
    [["containment", pct(t.containment), "%"], ["conversations", t.conversations, ""], ["cases", t.cases, ""],
     ["first_response_median_min", minutes(t.first_response_median_s), ""],
     ["resolution_median_min", minutes(t.resolution_median_s), ""],
     ["csat_avg", t.csat_avg, ""], ["csat_satisfied_share", pct(t.csat_satisfied_share), "%"]].forEach(function (x) {
      var d = document.createElement("div"); d.setAttribute("data-figure", x[0]);
      var b = document.createElement("b"); b.textContent = x[1] === null ? "-" : x[1] + (x[2] ? " " + x[2] : "");
      var s = document.createElement("span"); s.textContent = w(x[0]);
      d.appendChild(b); d.appendChild(s); box.appendChild(d);
    });
    var opts = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } };
    draw("chart-containment", { type: "bar", data: { labels: keys, datasets: [
      { label: w("containment"), backgroundColor: COLORS[0], data: rows.map(function (r) { return pct(r.containment); }) }] },
      options: { scales: { y: { beginAtZero: true, max: 100 } } } });
    draw("chart-times", { type: "line", data: { labels: keys, datasets: [
      { label: w("chart_first_response"), borderColor: COLORS[0], backgroundColor: COLORS[0], spanGaps: true,
        data: rows.map(function (r) { return minutes(r.first_response_median_s); }) },
      { label: w("chart_resolution"), borderColor: COLORS[1], backgroundColor: COLORS[1], spanGaps: true,
        data: rows.map(function (r) { return minutes(r.resolution_median_s); }) }] },
      options: { scales: { y: { beginAtZero: true } } } });
    draw("chart-csat", { type: "line", data: { labels: keys, datasets: [
      { label: w("chart_overall"), borderColor: COLORS[2], backgroundColor: COLORS[2], spanGaps: true,
        data: rows.map(function (r) { return r.csat_avg; }) }] },
      options: { scales: { y: { min: 0, max: 5 } } } });
    var agents = rep.agents.filter(function (a) { return a.period === "total"; });
    draw("chart-agents", { type: "bar", data: { labels: agents.map(function (a) { return a.agent; }).concat([w("chart_overall")]),
      datasets: [{ label: w("csat_avg"), backgroundColor: agents.map(function () { return COLORS[0]; }).concat([COLORS[2]]),
        data: agents.map(function (a) { return a.csat_avg; }).concat([t.csat_avg]) }] },
      options: { scales: { y: { min: 0, max: 5 } }, plugins: { legend: { display: false } } } });
    draw("chart-complaints", { type: "bar", data: { labels: keys, datasets: stacked(rep.complaints, keys, "category") }, options: opts });
    var warn = rep.warnings.map(function (x) { return Object.assign({}, x, { step: W[x.step] || x.step }); });
    draw("chart-warnings", { type: "bar", data: { labels: keys, datasets: stacked(warn, keys, "step") }, options: opts });
    window.__reportsReady = true;
  }
  function query() {
    return "period=" + encodeURIComponent($("period").value) + "&from=" + encodeURIComponent($("from").value) +
      "&to=" + encodeURIComponent($("to").value);
  }
  function load() {
    window.__reportsReady = false;
    var q = query();
    $("csv").href = "/api/reports.csv?" + q;
    get("/api/reports?" + q).then(function (rep) {
      if (rep._status === 401 || rep._status === 403) { location.href = "/console"; return; }
      $("error").classList.toggle("hidden", rep._status === 200);
      if (rep._status !== 200) { $("error").textContent = w("no_data"); return; }
      $("from").value = rep.from; $("to").value = rep.to;
      render(rep);
    });
  }
  $("range").addEventListener("submit", function (e) { e.preventDefault(); history.replaceState(null, "", "?" + query()); load(); });
  get("/api/labels").then(function (l) {
    if (l._status !== 200) { location.href = "/console"; return; }
    W = l.report || {}; STATUS = l.status || {};
    document.title = w("title");
    $("title").textContent = w("title");
    document.querySelectorAll("[data-word]").forEach(function (e) { e.textContent = w(e.getAttribute("data-word")); });
    ["day", "week"].forEach(function (k) { var o = document.createElement("option"); o.value = k; o.textContent = w(k); $("period").appendChild(o); });
    var p = new URLSearchParams(location.search);
    $("period").value = p.get("period") === "week" ? "week" : "day";
    $("from").value = p.get("from") || ""; $("to").value = p.get("to") || "";
    load();
  });
})();
