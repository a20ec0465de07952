/* hookwatch live dashboard: polls data.json and draws small SVG charts. No dependencies.
 *
 * Counts, percentiles, phases and warm-up come from the server (the app's metrics
 * registry). Rates are computed here (rates.js), from the differences between totals: on
 * opening, those of the server's history (the last minutes, sampled every few seconds),
 * then those of each poll.
 */
(function () {
  "use strict";

  const root = document.getElementById("dashboard");
  const DATA_URL = root.dataset.url;
  const REFRESH_S = (Number(root.dataset.refreshMs) || 2000) / 1000;
  const RATE_WINDOW_S = 10;
  const SMOOTH_S = 3; // time charts: rates over at least 3 s
  const SVGNS = "http://www.w3.org/2000/svg";
  const STATUS_COLORS = { "2xx": "#2f9e44", "3xx": "#1c7ed6", "4xx": "#f59f00", "5xx": "#e03131" };
  const PHASE_COLORS = {
    before_request: "#7048e8", view: "#1098ad", after_request: "#f76707", teardown: "#adb5bd",
  };
  const QUANTILE_COLORS = { p50: "#74c0fc", p95: "#1c7ed6", p99: "#0b3d91" };
  // Route colours; red and green stay free to mean errors and success.
  const PALETTE = ["#1c7ed6", "#7048e8", "#f76707", "#1098ad", "#ae3ec9", "#74b816",
    "#d6336c", "#495057", "#f59f00", "#3b5bdb", "#0b7285", "#868e96"];
  const routeColors = new Map();
  let history = []; // samples and polls: [{time, requests, errors_5xx, in_flight, routes}]
  let maxGapS = 3 * REFRESH_S; // longer between two points is a gap; set by every poll

  // -- small helpers -----------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const routeName = (route) => (route === "" ? "(no route)" : route);

  function colorFor(route) {
    if (!routeColors.has(route)) routeColors.set(route, PALETTE[routeColors.size % PALETTE.length]);
    return routeColors.get(route);
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (digits === undefined && Number.isInteger(value)) digits = 0;
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
    return value.toFixed(digits === undefined ? (value >= 100 ? 0 : value >= 10 ? 1 : 2) : digits);
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= value) return m * power;
    return 10 * power;
  }

  function svg(parent, tag, attrs, text) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function viewSize(chart) {
    const box = chart.viewBox.baseVal;
    return [box.width, box.height];
  }

  function empty(chart, message) {
    clear(chart);
    const [width, height] = viewSize(chart);
    svg(chart, "text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, message);
  }

  function legend(list, items) {
    clear(list);
    for (const item of items) {
      const li = document.createElement("li");
      const swatch = document.createElement("i");
      swatch.style.background = item.color;
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(item.label));
      list.appendChild(li);
    }
  }

  function setTile(id, value, text, tone) {
    const node = $(id);
    node.dataset.value = value === null || value === undefined ? "" : String(value);
    node.textContent = text;
    node.classList.toggle("bad", tone === "bad");
    node.classList.toggle("good", tone === "good");
  }

  // -- rates from the history (rates.js) ----------------------------------------------------
  const rates = window.hookwatchRates;
  const recentRate = (pick) => rates.recentRate(history, pick, RATE_WINDOW_S, maxGapS);
  const series = (value) => rates.series(history, value, SMOOTH_S, maxGapS);

  // -- charts -------------------------------------------------------------------------------
  // Lines of [time, value] points; a null point breaks its line.
  function lineChart(chart, lines) {
    const drawn = lines.filter((line) => line.points.some(Boolean));
    if (!drawn.length) return empty(chart, "collecting… (rates need two samples)");
    clear(chart);
    const [width, height] = viewSize(chart);
    const left = 46, right = 12, top = 10, bottom = 22;
    const now = history[history.length - 1].time;
    const span = Math.max(now - history[0].time, 10); // the history held, at least 10 s
    const yMax = niceMax(Math.max(...drawn.flatMap((line) => line.points.filter(Boolean).map((p) => p[1]))));
    const x = (t) => left + (width - left - right) * (1 - (now - t) / span);
    const y = (v) => top + (height - top - bottom) * (1 - v / yMax);
    for (let i = 0; i <= 4; i++) {
      const value = (yMax * i) / 4;
      svg(chart, "line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid-line" });
      svg(chart, "text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, fmt(value));
    }
    svg(chart, "line", { x1: left, x2: width - right, y1: y(0), y2: y(0), class: "axis" });
    for (const seconds of [span, span / 2, 0]) {
      const label = seconds === 0 ? "now" : `−${Math.round(seconds)} s`;
      svg(chart, "text", { x: x(now - seconds), y: height - 6, "text-anchor": seconds === span ? "start" : seconds === 0 ? "end" : "middle" }, label);
    }
    for (const line of drawn) {
      const points = line.points;
      const d = points.map((p, i) => p && `${points[i - 1] ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      const shown = points.filter(Boolean);
      svg(chart, "path", {
        d, fill: "none", stroke: line.color, "stroke-width": 2, class: "series", "data-name": line.name,
        "data-from": shown[0][0], "data-to": shown[shown.length - 1][0],
      });
    }
  }

  function stackedBar(chart, segments) {
    const total = segments.reduce((sum, s) => sum + s.value, 0);
    if (!(total > 0)) return empty(chart, "no requests yet");
    clear(chart);
    const [width] = viewSize(chart);
    const left = 8, barWidth = width - 16, barTop = 6, barHeight = 40;
    let offset = left;
    for (const segment of segments) {
      const w = (barWidth * segment.value) / total;
      if (w <= 0) continue;
      svg(chart, "rect", { x: offset, y: barTop, width: w, height: barHeight, fill: segment.color, class: "bar", "data-name": segment.name });
      if (w > 34) {
        svg(chart, "text", { x: offset + w / 2, y: barTop + barHeight + 16, "text-anchor": "middle" },
          `${Math.round((100 * segment.value) / total)}%`);
      }
      offset += w;
    }
  }

  function latencyChart(chart, routes) {
    const rows = routes.filter((r) => r.p99_ms !== null).slice(0, 10);
    if (!rows.length) return empty(chart, "no requests yet");
    clear(chart);
    const [width] = viewSize(chart);
    const rowHeight = 26, top = 6, labelWidth = 170, right = 60, axis = 20;
    const height = top + rows.length * rowHeight + axis;
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const xMax = niceMax(Math.max(...rows.map((r) => r.p99_ms)));
    const x = (v) => labelWidth + (width - labelWidth - right) * (v / xMax);
    for (let i = 0; i <= 4; i++) {
      const value = (xMax * i) / 4;
      svg(chart, "line", { x1: x(value), x2: x(value), y1: top, y2: height - axis, class: "grid-line" });
      svg(chart, "text", { x: x(value), y: height - 6, "text-anchor": "middle" }, `${fmt(value)}${i === 4 ? " ms" : ""}`);
    }
    rows.forEach((row, i) => {
      const y0 = top + i * rowHeight;
      svg(chart, "text", { x: labelWidth - 8, y: y0 + 16, "text-anchor": "end" }, routeName(row.route));
      ["p50", "p95", "p99"].forEach((q, j) => {
        svg(chart, "rect", {
          x: labelWidth, y: y0 + 3 + j * 7, width: Math.max(1, x(row[`${q}_ms`]) - labelWidth), height: 6,
          fill: QUANTILE_COLORS[q], class: "bar", "data-name": `${row.route} ${q}`,
        });
      });
      svg(chart, "text", { x: x(row.p99_ms) + 6, y: y0 + 16 }, fmt(row.p99_ms));
    });
  }

  // -- tables -------------------------------------------------------------------------------
  function cell(tr, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function routesTable(routes) {
    const body = $("table-routes").tBodies[0];
    clear(body);
    for (const row of routes) {
      const tr = document.createElement("tr");
      tr.dataset.route = row.route;
      cell(tr, routeName(row.route)).style.borderLeft = `4px solid ${colorFor(row.route)}`;
      cell(tr, fmt(row.requests, 0)).dataset.requests = row.requests;
      for (const klass of ["2", "3", "4", "5"]) {
        const n = Object.entries(row.by_status).filter(([s]) => s[0] === klass).reduce((a, [, v]) => a + v, 0);
        const td = cell(tr, n ? fmt(n, 0) : "·", n ? `s${klass}` : "");
        td.dataset.statusClass = `${klass}xx`;
        td.dataset.count = n;
        td.title = Object.entries(row.by_status).filter(([s]) => s[0] === klass).map(([s, v]) => `${s}: ${v}`).join(", ");
      }
      cell(tr, fmt(recentRate((p) => p.routes[row.route] || 0)));
      cell(tr, fmt(row.p95_ms));
      body.appendChild(tr);
    }
  }

  function recentTable(recent) {
    const body = $("table-recent").tBodies[0];
    clear(body);
    for (const item of recent.slice(0, 12)) {
      const tr = document.createElement("tr");
      const when = new Date(item.time * 1000);
      cell(tr, `${when.toLocaleTimeString("en-GB")}.${String(when.getMilliseconds()).padStart(3, "0")}`);
      cell(tr, item.request_id, "id left");
      cell(tr, item.method);
      cell(tr, routeName(item.route), "left");
      cell(tr, String(item.status), `s${String(item.status)[0]}`);
      cell(tr, fmt(item.duration_ms));
      body.appendChild(tr);
    }
  }

  // -- one poll -----------------------------------------------------------------------------
  function remember(data) {
    const { interval_s: interval, span_s: span, samples } = data.history;
    maxGapS = 3 * Math.max(REFRESH_S, interval);
    const last = history[history.length - 1];
    // On opening, and after missed polls (a hidden tab), start from the server's history.
    if (!last || data.generated - last.time > maxGapS) history = samples;
    history.push({
      time: data.generated, requests: data.requests, errors_5xx: data.errors_5xx, in_flight: data.in_flight,
      routes: Object.fromEntries(data.routes.map((r) => [r.route, r.requests])),
    });
    history = history.filter((point) => data.generated - point.time <= span);
  }

  function tiles(data) {
    setTile("tile-requests", data.requests, fmt(data.requests, 0));
    const rate = recentRate((p) => p.requests);
    setTile("tile-rate", rate === null ? null : rate.toFixed(2), fmt(rate));
    const ratio = 100 * data.error_ratio;
    setTile("tile-errors", data.error_ratio, `${fmt(ratio, 1)}%`, ratio >= 5 ? "bad" : "good");
    $("tile-errors-note").textContent = `${fmt(data.errors_5xx, 0)} 5xx of ${fmt(data.requests, 0)}`;
    setTile("tile-p95", data.latency.p95_ms, data.latency.p95_ms === null ? "–" : `${fmt(data.latency.p95_ms)} ms`);
    $("tile-p50-p99").textContent = `p50 ${fmt(data.latency.p50_ms)} · p99 ${fmt(data.latency.p99_ms)} ms`;
    setTile("tile-inflight", data.in_flight, fmt(data.in_flight, 0));
    setTile("tile-ready", data.warmup.ready ? 1 : 0, data.warmup.ready ? "ready" : "warming up", data.warmup.ready ? "good" : "bad");
    $("tile-warmup").textContent = data.warmup.duration_ms === null
      ? "not warmed up yet" : `warm-up took ${fmt(data.warmup.duration_ms)} ms`;
  }

  function charts(data) {
    const top = data.routes.slice(0, 10);
    lineChart($("chart-rate"), top.map((r) => ({
      name: routeName(r.route), color: colorFor(r.route),
      points: series((a, b) => rates.rateBetween(a, b, (p) => p.routes[r.route] || 0)),
    })));
    legend($("legend-rate"), top.map((r) => ({ color: colorFor(r.route), label: routeName(r.route) })));

    const classes = Object.entries(data.by_class).map(([name, value]) => ({ name, value, color: STATUS_COLORS[name] || "#868e96" }));
    stackedBar($("chart-status"), classes);
    legend($("legend-status"), Object.entries(data.by_status).map(([status, n]) => ({
      color: STATUS_COLORS[`${status[0]}xx`] || "#868e96",
      label: `${status}: ${fmt(n, 0)} (${fmt((100 * n) / data.requests, 1)}%)`,
    })));

    latencyChart($("chart-latency"), data.routes);

    lineChart($("chart-errors"), [
      { name: "5xx ratio", color: "#e03131", points: series((a, b) => {
        const n = b.requests - a.requests;
        return n > 0 ? (100 * Math.max(0, b.errors_5xx - a.errors_5xx)) / n : 0;
      }) },
      { name: "in flight", color: "#495057", points: history.slice(1).map((p) => [p.time, p.in_flight]) },
    ]);

    const phases = data.phases.map((p) => ({ name: p.phase, value: p.mean_ms || 0, color: PHASE_COLORS[p.phase] }));
    stackedBar($("chart-phases"), phases);
    const phaseTotal = phases.reduce((sum, p) => sum + p.value, 0) || 1;
    legend($("legend-phases"), phases.map((p) => ({
      color: p.color, label: `${p.name} ${fmt(p.value, 3)} ms (${fmt((100 * p.value) / phaseTotal, 1)}%)`,
    })));
  }

  function update(data) {
    remember(data);
    tiles(data);
    charts(data);
    routesTable(data.routes);
    recentTable(data.recent);
    const status = $("status");
    const source = data.multiprocess ? "all workers" : `process ${data.pid}`;
    status.textContent = `updated ${new Date(data.generated * 1000).toLocaleTimeString("en-GB")} · ${source}`;
    status.className = "status ok";
    root.dataset.polls = String(Number(root.dataset.polls || 0) + 1);
  }

  async function poll() {
    try {
      const response = await fetch(DATA_URL, { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      update(await response.json());
    } catch (error) {
      const status = $("status");
      status.textContent = `cannot load ${DATA_URL}: ${error.message}; retrying`;
      status.className = "status error";
    } finally {
      setTimeout(poll, REFRESH_S * 1000);
    }
  }

  poll();
})();
