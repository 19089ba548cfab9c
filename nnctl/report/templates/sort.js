"use strict";
// Sort the summary table by the clicked column: numbers as numbers, empty cells always last.
(function () {
  var table = document.getElementById("summary");
  if (!table) { return; }
  var headers = table.tHead.rows[0].cells;
  function value(row, col, numeric) {
    var raw = row.cells[col].getAttribute("data-value");
    if (raw === null || raw === "") { return null; }
    if (numeric) { var x = parseFloat(raw); return isNaN(x) ? null : x; }
    return raw.toLowerCase();
  }
  Array.prototype.forEach.call(headers, function (th, col) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      var numeric = th.getAttribute("data-kind") === "num";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = value(a, col, numeric), y = value(b, col, numeric);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var c = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      Array.prototype.forEach.call(headers, function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
}());
