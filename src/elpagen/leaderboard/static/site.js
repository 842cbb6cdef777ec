// elpagen leaderboard site: filter and sort the table of index.html. No library, no
// network. The state lives in the URL hash (#sort=coverage-desc&kind=baseline&class=1),
// so a link (or a test) can open the page sorted and filtered; clicking a header or
// changing a filter rewrites the hash and the hashchange handler applies it.
(function () {
  "use strict";
  var table = document.getElementById("board");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var selects = document.querySelectorAll("select[data-filter]");
  var shown = document.getElementById("shown");

  function readHash() {
    var state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var i = part.indexOf("=");
      if (i > 0) {
        state[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1));
      }
    });
    return state;
  }

  function writeHash(state) {
    var parts = [];
    Object.keys(state).forEach(function (k) {
      if (state[k]) { parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(state[k])); }
    });
    location.hash = parts.join("&");
  }

  function typeOf(key) {
    for (var i = 0; i < headers.length; i++) {
      if (headers[i].getAttribute("data-key") === key) { return headers[i].getAttribute("data-type"); }
    }
    return null;
  }

  // Missing numbers (a published point has no rank) sort last in either direction.
  function sortRows(key, dir) {
    var type = typeOf(key);
    if (!type) { return; }
    var sign = dir === "desc" ? -1 : 1;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.getAttribute("data-" + key), y = b.getAttribute("data-" + key);
      var c;
      if (type === "num") {
        var fx = x === "" ? NaN : parseFloat(x), fy = y === "" ? NaN : parseFloat(y);
        if (isNaN(fx) || isNaN(fy)) {
          c = isNaN(fx) && isNaN(fy) ? 0 : isNaN(fx) ? 1 : -1;
          return c || (parseFloat(a.getAttribute("data-order")) - parseFloat(b.getAttribute("data-order")));
        }
        c = sign * (fx - fy);
      } else {
        c = sign * x.localeCompare(y);
      }
      // Stable: ties keep the board's order.
      return c || (parseFloat(a.getAttribute("data-order")) - parseFloat(b.getAttribute("data-order")));
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    for (var i = 0; i < headers.length; i++) {
      var h = headers[i];
      h.setAttribute("aria-sort", h.getAttribute("data-key") === key
        ? (dir === "desc" ? "descending" : "ascending") : "none");
    }
  }

  function filterRows(state) {
    var n = 0;
    Array.prototype.forEach.call(tbody.rows, function (r) {
      var ok = true;
      Array.prototype.forEach.call(selects, function (s) {
        var key = s.getAttribute("data-filter");
        if (state[key] && r.getAttribute("data-" + key) !== state[key]) { ok = false; }
      });
      r.hidden = !ok;
      if (ok) { n++; }
    });
    if (shown) { shown.textContent = n + " of " + tbody.rows.length + " rows"; }
  }

  function apply() {
    var state = readHash();
    var sort = (state.sort || "order-asc").match(/^(.+)-(asc|desc)$/);
    if (sort) { sortRows(sort[1], sort[2]); }
    Array.prototype.forEach.call(selects, function (s) {
      s.value = state[s.getAttribute("data-filter")] || "";
    });
    filterRows(state);
  }

  function clickSort(h) {
    var state = readHash();
    var key = h.getAttribute("data-key");
    var cur = (state.sort || "").match(/^(.+)-(asc|desc)$/);
    // First click: numbers high to low (the better end for most metrics), names A to Z.
    var first = h.getAttribute("data-type") === "num" && key !== "order" && key !== "rank"
      ? "desc" : "asc";
    state.sort = key + "-" + (cur && cur[1] === key ? (cur[2] === "asc" ? "desc" : "asc") : first);
    writeHash(state);
  }

  Array.prototype.forEach.call(headers, function (h) {
    h.addEventListener("click", function () { clickSort(h); });
    h.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); clickSort(h); }
    });
  });
  Array.prototype.forEach.call(selects, function (s) {
    s.addEventListener("change", function () {
      var state = readHash();
      state[s.getAttribute("data-filter")] = s.value;
      writeHash(state);
    });
  });
  window.addEventListener("hashchange", apply);
  apply();
}());
