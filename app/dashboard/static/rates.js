/* hookwatch live dashboard: rates from totals. Pure functions, loaded before dashboard.js.
 *
 * A point is a sample of data.json's history (or a poll, in the same shape):
 * {time, requests, errors_5xx, in_flight, routes: {route: requests}}, totals since start.
 * A rate is the difference between two points over the time between them. A total that
 * drops means the counters started again (a restart), and more than maxGapS seconds between
 * two points means nobody sampled in between: either way the later point is a new
 * baseline, with no rate up to it, and the lines break there.
 */
window.hookwatchRates = (function () {
  "use strict";

  // For each point, the index of the baseline that starts its stretch.
  function baselines(points, maxGapS) {
    const starts = [];
    points.forEach((point, i) => {
      const before = points[i - 1];
      const restarted = before && point.requests < before.requests;
      const fresh = !before || restarted || point.time - before.time > maxGapS;
      starts.push(fresh ? i : starts[i - 1]);
    });
    return starts;
  }

  // Per second from a to b; never negative (one route's count may drop alone).
  function rateBetween(a, b, pick) {
    const dt = b.time - a.time;
    return dt > 0 ? Math.max(0, (pick(b) - pick(a)) / dt) : 0;
  }

  // [time, value(a, b)] for every point b but a baseline, with a the latest point of b's
  // stretch at least smoothS older (else the baseline); null where a line breaks.
  function series(points, value, smoothS, maxGapS) {
    const starts = baselines(points, maxGapS);
    const out = [];
    let a = 0;
    points.forEach((b, i) => {
      if (starts[i] === i) {
        if (i > 0) out.push(null);
        a = i;
        return;
      }
      while (a + 1 < i && b.time - points[a + 1].time >= smoothS) a++;
      out.push([b.time, value(points[a], b)]);
    });
    return out;
  }

  // The rate over the last windowS seconds of the newest stretch; null without two points.
  function recentRate(points, pick, windowS, maxGapS) {
    const last = points.length - 1;
    if (last < 1) return null;
    let i = baselines(points, maxGapS)[last];
    while (i < last && points[last].time - points[i].time > windowS) i++;
    return i < last ? rateBetween(points[i], points[last], pick) : null;
  }

  return { rateBetween, series, recentRate };
})();
