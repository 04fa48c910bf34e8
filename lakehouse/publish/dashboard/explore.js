// The dashboard's interactive views: filters that redraw the line charts, values on hover, headline
// tiles with the change against the previous period, and the open alerts narrowed to the filters.
// It reads the rows embedded in <script id="dashboard-data"> (explore.py) and draws the same SVG as
// svg.py (same sizes, same data-dates / data-values attributes), so a filtered chart reads like the
// server's. No library, no network: the page stays one file that opens offline.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("dashboard-data").textContent);
  var W = 640, H = 280, L = 64, R = 36, T = 14, B = 46, TOTAL = "#333333";
  var DAY = 86400000;
  var state = {from: "", to: "", region: "", channel: "", modality: "", office: ""};

  function dayNumber(iso) { return Date.parse(iso + "T00:00:00Z") / DAY; }
  function isoOf(n) { return new Date(n * DAY).toISOString().slice(0, 10); }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; });
  }
  function ratio(n, d) { return d > 0 ? n / d : null; }
  function dataNumber(v) { return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e4) / 1e4); }
  function niceTop(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    return [1, 2, 2.5, 5, 10].map(function (m) { return m * p; }).filter(function (x) { return x >= v; })[0];
  }
  function tick(v, top, percent) {
    if (percent) return (v * 100).toFixed(0) + "%";
    return top >= 10 ? Math.round(v).toLocaleString("en-US") : String(+v.toFixed(6));
  }
  function shown(v, kind) {
    if (v === null || v === undefined) return "no value";
    if (kind === "percent") return (v * 100).toFixed(1) + "%";
    if (kind === "ms") return Math.round(v).toLocaleString("en-US") + " ms";
    return Math.round(v).toLocaleString("en-US");
  }

  // The rows a filter keeps, and the rows of a day range; `dims` says which filters apply.
  var ENR = {day: 0, region: 1, channel: 2}, VAL = {day: 0, region: 1, modality: 2}, OFF = {day: 0, office: 1, region: 2};
  function kept(rows, cols, from, to) {
    return rows.filter(function (r) {
      var day = D.dims.day[r[cols.day]];
      if ((from && day < from) || (to && day > to)) return false;
      return ["region", "channel", "modality", "office"].every(function (dim) {
        return !(dim in cols) || !state[dim] || D.dims[dim][r[cols[dim]]] === state[dim];
      });
    });
  }

  // One series per group of `dim`: value(day's rows) per day that has rows; colours by the group's
  // place among all the page's groups, so a colour stays with its group whatever is filtered.
  function grouped(rows, cols, dim, value, fill) {
    var days = Array.from(new Set(rows.map(function (r) { return D.dims.day[r[cols.day]]; }))).sort();
    var names = Array.from(new Set(rows.map(function (r) { return r[cols[dim]]; }))).sort(function (a, b) { return a - b; });
    var series = names.map(function (g) {
      var values = days.map(function (day) {
        var mine = rows.filter(function (r) { return r[cols[dim]] === g && D.dims.day[r[cols.day]] === day; });
        return mine.length ? value(mine) : fill;
      });
      return {name: D.dims[dim][g], values: values, colour: D.palette[g % D.palette.length], dashed: false};
    });
    return {days: days, series: series};
  }
  function totalSeries(name, rows, cols, days, num, den) {
    var values = days.map(function (day) {
      var mine = rows.filter(function (r) { return D.dims.day[r[cols.day]] === day; });
      return ratio(sum(mine, num), sum(mine, den));
    });
    return {name: name, values: values, colour: TOTAL, dashed: true};
  }
  function sum(rows, i) { return rows.reduce(function (a, r) { return a + (r[i] || 0); }, 0); }
  function weighted(rows, i, w) {  // percentiles weighed by the validations timed (queries.validation_times)
    var known = rows.filter(function (r) { return r[i] !== null && r[w] > 0; });
    return ratio(known.reduce(function (a, r) { return a + r[i] * r[w]; }, 0), sum(known, w));
  }

  var CHARTS = {
    enrollments_by_region: function (e) { return grouped(e, ENR, "region", function (m) { return sum(m, 3); }, 0); },
    enrollments_by_channel: function (e) { return grouped(e, ENR, "channel", function (m) { return sum(m, 3); }, 0); },
    completion_rate: function (e) {
      var g = grouped(e, ENR, "channel", function (m) { return ratio(sum(m, 4), sum(m, 3)); }, null);
      g.series.push(totalSeries("all channels", e, ENR, g.days, 4, 3));
      g.percent = true;
      return g;
    },
    validation_times: function (e, v) {
      var p50 = grouped(v, VAL, "modality", function (m) { return weighted(m, 5, 4); }, null);
      var p95 = grouped(v, VAL, "modality", function (m) { return weighted(m, 6, 4); }, null);
      var series = [];
      p50.series.forEach(function (s, i) {
        series.push({name: s.name + " p50", values: s.values, colour: s.colour, dashed: false});
        series.push({name: s.name + " p95", values: p95.series[i].values, colour: s.colour, dashed: true});
      });
      return {days: p50.days, series: series, unit: "ms"};
    },
    match_rate: function (e, v) {
      var g = grouped(v, VAL, "modality", function (m) { return ratio(sum(m, 3), sum(m, 4)); }, null);
      g.percent = true;
      return g;
    },
    office_attendance: function (e, v, o) {
      var g = grouped(o, OFF, "region", function (m) { return ratio(sum(m, 4), sum(m, 3)); }, null);
      g.series.push(totalSeries("all offices", o, OFF, g.days, 4, 3));
      g.percent = true;
      return g;
    }
  };

  function lineSvg(key, title, chart) {
    var days = chart.days, values = [];
    chart.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) values.push(v); }); });
    var max = Math.max.apply(null, values);
    var top = chart.percent ? (max <= 1 ? 1 : niceTop(max)) : niceTop(Math.max(max, 5));
    var first = dayNumber(days[0]), span = dayNumber(days[days.length - 1]) - first;
    var w = W - L - R, h = H - T - B, radius = days.length <= 45 ? 3 : 1.5;
    function x(day) { return L + (span ? w * (dayNumber(day) - first) / span : w / 2); }
    function y(v) { return T + h * (1 - Math.min(v, top) / top); }
    var out = ['<svg class="plot" viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' + esc(title) +
               '" data-dates="' + days.join(" ") + '">'];
    for (var i = 0; i <= 5; i++) {
      var t = top * i / 5;
      out.push('<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(t).toFixed(1) + '" y2="' + y(t).toFixed(1) +
               '"/><text class="tick" x="' + (L - 6) + '" y="' + (y(t) + 4).toFixed(1) + '" text-anchor="end">' +
               tick(t, top, chart.percent) + "</text>");
    }
    for (var k = 0; k <= span; k += Math.max(1, Math.ceil(span / 5))) {
      var d = isoOf(first + k);
      out.push('<line class="axis" x1="' + x(d).toFixed(1) + '" x2="' + x(d).toFixed(1) + '" y1="' + (H - B) + '" y2="' +
               (H - B + 4) + '"/><text class="tick" x="' + x(d).toFixed(1) + '" y="' + (H - B + 16) +
               '" text-anchor="middle">' + d + "</text>");
    }
    out.push('<line class="axis" x1="' + L + '" x2="' + L + '" y1="' + T + '" y2="' + (H - B) + '"/><line class="axis" x1="' +
             L + '" x2="' + (W - R) + '" y1="' + (H - B) + '" y2="' + (H - B) + '"/>');
    chart.series.forEach(function (s) {
      var runs = [[]];  // a day without a value, or days missing in between, break the line
      days.forEach(function (day, j) {
        var v = s.values[j];
        if (v === null || (j > 0 && dayNumber(day) - dayNumber(days[j - 1]) > 1)) runs.push([]);
        if (v !== null) runs[runs.length - 1].push([x(day), y(v)]);
      });
      var marks = runs.filter(function (r) { return r.length; }).map(function (run) {
        var dots = run.map(function (p) { return '<circle cx="' + p[0].toFixed(1) + '" cy="' + p[1].toFixed(1) + '" r="' + radius + '"/>'; });
        if (run.length < 2) return dots.join("");
        return '<polyline fill="none" stroke="' + s.colour + '" stroke-width="2"' + (s.dashed ? ' stroke-dasharray="6 4"' : "") +
               ' points="' + run.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" ") + '"/>' +
               (days.length <= 45 ? dots.join("") : "");
      });
      var data = s.values.map(function (v) { return v === null ? "null" : dataNumber(v); }).join(" ");
      out.push('<g class="series" data-series="' + esc(s.name) + '" data-values="' + data + '" fill="' + s.colour + '">' +
               "<title>" + esc(s.name) + "</title>" + marks.join("") + "</g>");
    });
    out.push('<line class="guide" x1="0" x2="0" y1="' + T + '" y2="' + (H - B) + '" visibility="hidden"/></svg>');
    return out.join("");
  }

  function legend(series) {
    if (series.length < 2) return "";
    return '<ul class="legend">' + series.map(function (s) {
      return '<li><span class="key" style="border-top:3px ' + (s.dashed ? "dashed" : "solid") + " " + s.colour + '"></span>' +
             esc(s.name) + "</li>";
    }).join("") + "</ul>";
  }

  function redraw(figure, chart) {
    var title = figure.querySelector("h2").textContent;
    Array.prototype.forEach.call(figure.querySelectorAll("svg.plot, ul.legend, .no-data"), function (n) { n.remove(); });
    var asOf = figure.querySelector(".as-of");
    var drawn = chart.series.some(function (s) { return s.values.some(function (v) { return v !== null; }); });
    var html = drawn ? legend(chart.series) + lineSvg(figure.dataset.chart, title, chart)
                     : '<div class="no-data" role="note">No data for these filters.</div>';
    asOf.insertAdjacentHTML("beforebegin", html);
    figure.dataset.state = drawn ? "ok" : "no-data";
    var svg = figure.querySelector("svg.plot");
    if (svg) hover(figure, svg, chart);
  }

  // Values on hover: the day under the pointer, and each series' value on it.
  function hover(figure, svg, chart) {
    var tip = figure.querySelector(".tip") || figure.appendChild(document.createElement("div"));
    tip.className = "tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    var guide = svg.querySelector(".guide"), days = chart.days;
    var first = dayNumber(days[0]), span = dayNumber(days[days.length - 1]) - first;
    var kind = chart.percent ? "percent" : chart.unit || "count";
    svg.addEventListener("mousemove", function (ev) {
      var box = svg.getBoundingClientRect(), vx = (ev.clientX - box.left) * W / box.width;
      var at = span ? first + Math.round((vx - L) * span / (W - L - R)) : first;
      var best = 0;
      days.forEach(function (d, j) { if (Math.abs(dayNumber(d) - at) < Math.abs(dayNumber(days[best]) - at)) best = j; });
      var gx = L + (span ? (W - L - R) * (dayNumber(days[best]) - first) / span : (W - L - R) / 2);
      guide.setAttribute("x1", gx); guide.setAttribute("x2", gx); guide.setAttribute("visibility", "visible");
      tip.dataset.date = days[best];
      tip.innerHTML = "<b>" + days[best] + "</b>" + chart.series.map(function (s) {
        return '<div data-series="' + esc(s.name) + '"><span style="color:' + s.colour + '">&#9632;</span> ' + esc(s.name) +
               ": " + shown(s.values[best], kind) + "</div>";
      }).join("");
      var fig = figure.getBoundingClientRect();
      tip.style.left = Math.min(ev.clientX - fig.left + 12, fig.width - 200) + "px";
      tip.style.top = (ev.clientY - fig.top + 12) + "px";
      tip.hidden = false;
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; guide.setAttribute("visibility", "hidden"); });
  }

  // Headline tiles: the chosen days against as many days just before them.
  function tiles() {
    var from = state.from, to = state.to, n = dayNumber(to) - dayNumber(from) + 1;
    var pFrom = isoOf(dayNumber(from) - n), pTo = isoOf(dayNumber(from) - 1);
    function figures(a, b) {
      var e = kept(D.enrollments, ENR, a, b), v = kept(D.validations, VAL, a, b);
      return {enrollments: e.length ? sum(e, 3) : null, completion: ratio(sum(e, 4), sum(e, 3)),
              p95: weighted(v, 6, 4), match: ratio(sum(v, 3), sum(v, 4))};
    }
    var now = figures(from, to), before = figures(pFrom, pTo);
    var open = Array.prototype.filter.call(document.querySelectorAll("#alerts tr[data-rule]"), function (r) { return !r.hidden; });
    var rows = [["enrollments", "Enrollments started", now.enrollments, before.enrollments, "count"],
                ["completion_rate", "Completion rate", now.completion, before.completion, "percent"],
                ["p95_validation_ms", "Validation time p95", now.p95, before.p95, "ms"],
                ["match_rate", "Match rate", now.match, before.match, "percent"]];
    var html = rows.map(function (t) {
      var change = "no data for the previous " + n + " day(s)";
      if (t[2] !== null && t[3] !== null) {
        change = t[4] === "percent" ? ((t[2] - t[3]) * 100 >= 0 ? "+" : "") + ((t[2] - t[3]) * 100).toFixed(1) + " pts"
               : t[3] ? ((t[2] - t[3]) / t[3] * 100 >= 0 ? "+" : "") + ((t[2] - t[3]) / t[3] * 100).toFixed(1) + "%" : "from 0";
        change += " vs " + pFrom + " to " + pTo;
      }
      return '<div class="tile" data-tile="' + t[0] + '" data-value="' + (t[2] === null ? "null" : dataNumber(t[2])) +
             '" data-previous="' + (t[3] === null ? "null" : dataNumber(t[3])) + '"><span class="label">' + t[1] +
             '</span><span class="value">' + shown(t[2], t[4]) + '</span><span class="change">' + change + "</span></div>";
    });
    var critical = open.filter(function (r) { return r.dataset.severity === "critical"; }).length;
    html.push('<div class="tile" data-tile="open_alerts" data-value="' + open.length + '"><span class="label">Open alerts</span>' +
              '<span class="value">' + open.length + '</span><span class="change">' + critical + " critical</span></div>");
    document.getElementById("tiles").innerHTML = html.join("");
  }

  function apply() {
    Array.prototype.forEach.call(document.querySelectorAll("#alerts tr[data-rule]"), function (r) {
      r.hidden = !!state.region && !!r.dataset.region && r.dataset.region !== state.region;
    });
    var e = kept(D.enrollments, ENR, state.from, state.to), v = kept(D.validations, VAL, state.from, state.to);
    var o = kept(D.offices, OFF, state.from, state.to);
    Object.keys(CHARTS).forEach(function (key) {
      var figure = document.querySelector('figure[data-chart="' + key + '"]');
      if (figure) redraw(figure, CHARTS[key](e, v, o));
    });
    tiles();
  }

  function filters() {
    var form = document.getElementById("filters"), days = D.dims.day;
    if (!days.length) { form.hidden = true; return; }
    state.to = days[days.length - 1];
    state.from = isoOf(Math.max(dayNumber(days[0]), dayNumber(state.to) - 13));  // the latest 14 days
    var html = ['<label>From <input type="date" name="from" min="' + days[0] + '" max="' + state.to + '" value="' + state.from + '"></label>',
                '<label>To <input type="date" name="to" min="' + days[0] + '" max="' + state.to + '" value="' + state.to + '"></label>'];
    [["region", "Region"], ["channel", "Channel"], ["modality", "Modality"], ["office", "Office"]].forEach(function (f) {
      html.push("<label>" + f[1] + ' <select name="' + f[0] + '"><option value="">all</option>' + D.dims[f[0]].map(function (v) {
        return '<option value="' + esc(v) + '">' + esc(v) + "</option>";
      }).join("") + "</select></label>");
    });
    form.innerHTML = html.join("") + '<span class="hint">channel: enrollment charts · modality: validation charts · office: attendance</span>';
    form.addEventListener("change", function (ev) {
      var t = ev.target;
      if (t.name === "from" || t.name === "to") {
        if (!t.value) return;
        state[t.name] = t.value;
        if (state.from > state.to) { state[t.name === "from" ? "to" : "from"] = t.value; form.elements[t.name === "from" ? "to" : "from"].value = t.value; }
      } else {
        state[t.name] = t.value;
      }
      apply();
    });
    form.hidden = false;
  }

  filters();
  if (D.dims.day.length) apply();
})();
