/* Dashboards: draw each chart with the local Plotly from the JSON the page embeds
   (json_script). Labels come translated from the server; every text is escaped first,
   because Plotly reads a subset of HTML in labels and names must show as typed. */
(function () {
  "use strict";

  var FONT = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif';

  function text(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function isEmpty(spec) {
    return spec.x.length === 0 || spec.series.every(function (s) {
      return s.y.every(function (v) { return v === null || v === 0; });
    });
  }

  function draw(element, emptyText) {
    var spec = JSON.parse(document.getElementById(element.dataset.plot).textContent);
    var horizontal = spec.kind === "hbar" || spec.kind === "hstack";
    var stacked = spec.kind === "stack" || spec.kind === "hstack";
    var categories = spec.x.map(function (v) { return spec.dates ? v : text(v); });
    var unit = text(spec.unit || "");
    var traces = spec.series.map(function (s) {
      var trace = { name: text(s.name), type: spec.kind === "line" ? "scatter" : "bar" };
      if (horizontal) {
        trace.orientation = "h"; trace.y = categories; trace.x = s.y;
        trace.hovertemplate = "%{y}: %{x}" + unit;
      } else {
        trace.x = categories; trace.y = s.y;
        trace.hovertemplate = "%{x}: %{y}" + unit;
      }
      if (spec.kind === "line") {
        trace.mode = "lines+markers";
        trace.connectgaps = true;  // a day without calls has no average: join its neighbours
        trace.marker = { size: 5 };
        if (s.color) { trace.line = { color: s.color, width: 2 }; trace.marker.color = s.color; }
      } else if (s.color) {
        trace.marker = { color: s.color };
      }
      if (spec.series.length === 1) { trace.hovertemplate += "<extra></extra>"; }
      return trace;
    });
    if (horizontal) {
      // One row per category, so a long ranking grows instead of squeezing its bars.
      element.style.height = Math.max(160, 30 * spec.x.length + 60) + "px";
    }
    var values = [].concat.apply([], spec.series.map(function (s) { return s.y; }))
      .filter(function (v) { return v !== null; });
    var valueAxis = { ticksuffix: unit, rangemode: "tozero", fixedrange: true,
                      gridcolor: "#e2e8f0", zeroline: false, automargin: true };
    var categoryAxis = { fixedrange: true, automargin: true };
    if (spec.dates) {
      categoryAxis.type = "date"; categoryAxis.tickformat = "%m-%d";
      categoryAxis.hoverformat = "%Y-%m-%d";
    } else {
      categoryAxis.type = "category";
      if (horizontal) { categoryAxis.autorange = "reversed"; }
    }
    if (spec.unit === "%" && stacked) { valueAxis.range = [0, 100]; }
    if (!spec.unit && values.every(Number.isInteger)) {
      // Counts: whole-number ticks only, one per unit while the numbers are small.
      valueAxis.tickformat = ",d";
      if (Math.max.apply(null, values.concat([0])) <= 5) { valueAxis.dtick = 1; }
    }
    var layout = {
      font: { family: FONT, size: 12, color: "#1f2933" },
      margin: { l: 8, r: 12, t: 8, b: 8 },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      barmode: stacked ? "stack" : "group",
      showlegend: spec.series.length > 1,
      legend: { orientation: "h", x: 0, y: 1.12, traceorder: "normal" },
      hovermode: "closest",
      xaxis: horizontal ? valueAxis : categoryAxis,
      yaxis: horizontal ? categoryAxis : valueAxis
    };
    if (isEmpty(spec)) {
      layout.annotations = [{ text: text(emptyText), showarrow: false, xref: "paper",
                              yref: "paper", x: 0.5, y: 0.5, font: { color: "#64748b", size: 14 } }];
      layout.xaxis.visible = false; layout.yaxis.visible = false; layout.showlegend = false;
    }
    window.Plotly.newPlot(element, traces, layout, { displayModeBar: false, responsive: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.querySelector(".dashboard");
    if (!board || !window.Plotly) { return; }
    board.querySelectorAll(".plot[data-plot]").forEach(function (element) {
      draw(element, board.dataset.empty || "");
    });
  });
})();
