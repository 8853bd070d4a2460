// The interactive attention view of a sentence page, in the spirit of bertviz's head view, with no server
// and no network: the data comes from the sentence's view-data.js (window.bertGalleryView), a script file,
// so it works from file:// too. Attention is stored as 16-bit integers (weight x data.scale), layer-major,
// little-endian, base64-encoded.
(function () {
  "use strict";
  var data = window.bertGalleryView;
  var root = document.getElementById("explore");
  if (!data || !root) return;
  var raw = atob(data.attention);
  var buffer = new Uint8Array(raw.length);
  for (var k = 0; k < raw.length; k++) buffer[k] = raw.charCodeAt(k);
  var weights = new Uint16Array(buffer.buffer);
  function headPng(layer, head) {  // 1-based, from the one pattern Python uses (names.py)
    return data.names.headPng.replace("{layer}", layer).replace("{head}", head);
  }
  var L = data.layers, H = data.heads, T = data.tokens.length;
  var special = data.special;  // token positions of [CLS]/[SEP] (or <s>, </s>)

  var layerSelect = root.querySelector("#layer");
  var headSelect = root.querySelector("#head");
  var hideSpecial = root.querySelector("#hide-special");
  var view = root.querySelector("#view");
  var svg = root.querySelector("svg");
  var status = root.querySelector("#view-status");
  var fullLink = root.querySelector("#full-picture");
  var fromColumn = root.querySelector(".from");
  var toColumn = root.querySelector(".to");
  var state = { layer: 0, head: 0, focus: null };  // focus: {side: "from"|"to", i} or null

  function option(select, n, label) {
    for (var i = 0; i < n; i++) {
      var o = document.createElement("option");
      o.value = String(i);
      o.textContent = label + " " + (i + 1);
      select.appendChild(o);
    }
  }
  option(layerSelect, L, "Layer");
  option(headSelect, H, "Head");

  function visible() {
    var keep = [];
    for (var i = 0; i < T; i++) if (!(hideSpecial.checked && special.indexOf(i) >= 0)) keep.push(i);
    return keep;
  }

  // weights of the current head among the visible tokens; rows renormalised when tokens are hidden
  function matrix(keep) {
    var base = (state.layer * H + state.head) * T * T, m = [];
    keep.forEach(function (i) {
      var row = keep.map(function (j) { return weights[base + i * T + j] / data.scale; });
      if (hideSpecial.checked) {
        var sum = row.reduce(function (a, b) { return a + b; }, 0) || 1;
        row = row.map(function (w) { return w / sum; });
      }
      m.push(row);
    });
    return m;
  }

  function step(w) {  // the colour class of a weight, as the statistics maps use them
    return Math.min(data.colors.length - 1, Math.round(w * (data.colors.length - 1)));
  }

  function tokenButtons(column, keep, side) {
    column.textContent = "";
    keep.forEach(function (i, row) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "tok";
      b.textContent = data.tokens[i];
      b.dataset.row = String(row);
      b.setAttribute("aria-label", (side === "from" ? "attending token " : "attended token ") + data.tokens[i]);
      var enter = function () { state.focus = { side: side, row: row }; draw(); };
      var leave = function () { state.focus = null; draw(); };
      b.addEventListener("mouseenter", enter);
      b.addEventListener("focus", enter);
      b.addEventListener("mouseleave", leave);
      b.addEventListener("blur", leave);
      column.appendChild(b);
    });
  }

  var ROW = 24;
  function draw() {
    var keep = visible(), m = matrix(keep), n = keep.length;
    if (fromColumn.children.length !== n) { tokenButtons(fromColumn, keep, "from"); tokenButtons(toColumn, keep, "to"); }
    svg.setAttribute("height", String(n * ROW));
    svg.setAttribute("viewBox", "0 0 100 " + n * ROW);
    var lines = [], f = state.focus;
    for (var a = 0; a < n; a++) {
      for (var b = 0; b < n; b++) {
        var w = m[a][b];
        if (w < 0.02) continue;
        if (f && ((f.side === "from" && f.row !== a) || (f.side === "to" && f.row !== b))) continue;
        lines.push('<line x1="0" y1="' + (a * ROW + ROW / 2) + '" x2="100" y2="' + (b * ROW + ROW / 2) +
                   '" stroke="#3b5bdb" stroke-opacity="' + Math.min(1, 0.1 + w * 1.5).toFixed(3) +
                   '" stroke-width="' + (1 + 3 * w).toFixed(2) + '"></line>');
      }
    }
    svg.innerHTML = lines.join("");
    // colour the tokens on the other side of a focused token with its weights
    [fromColumn, toColumn].forEach(function (column, side) {
      Array.prototype.forEach.call(column.children, function (btn, row) {
        var w = null;
        if (f && f.side === "from" && side === 1) w = m[f.row][row];
        if (f && f.side === "to" && side === 0) w = m[row][f.row];
        btn.style.background = w === null ? "" : data.colors[step(w)];
        btn.classList.toggle("light", w !== null && data.light[step(w)]);  // chosen by contrast in Python
        btn.title = w === null ? "" : w.toFixed(2);
        btn.classList.toggle("focused", !!f && ((f.side === "from" && side === 0) || (f.side === "to" && side === 1)) && f.row === row);
      });
    });
    layerSelect.value = String(state.layer);
    headSelect.value = String(state.head);
    var name = "Layer " + (state.layer + 1) + ", head " + (state.head + 1);
    status.textContent = name + (f ? ": " + data.tokens[keep[f.row]] + (f.side === "from" ? " attends to the highlighted tokens" : " is attended to by the highlighted tokens") : "");
    fullLink.href = headPng(state.layer + 1, state.head + 1);
    fullLink.textContent = "Open the full picture of layer " + (state.layer + 1) + ", head " + (state.head + 1);
  }

  function select(layer, head) {
    state.layer = (layer + L) % L;
    state.head = (head + H) % H;
    state.focus = null;
    draw();
  }

  layerSelect.addEventListener("change", function () { select(+layerSelect.value, state.head); });
  headSelect.addEventListener("change", function () { select(state.layer, +headSelect.value); });
  hideSpecial.addEventListener("change", function () {
    fromColumn.textContent = "";  // the token columns change
    state.focus = null;
    draw();
  });
  // arrow keys: left/right for the previous/next head, up/down for the previous/next layer
  root.addEventListener("keydown", function (e) {
    if (e.target === layerSelect || e.target === headSelect) return;
    var moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    var d = moves[e.key];
    if (!d) return;
    e.preventDefault();
    select(state.layer + d[0], state.head + d[1]);
  });
  // statistics cells become links to their head's picture (the page ships them bare: a link in each of
  // a thousand cells was a third of the page's bytes); row = layer, column = head
  document.querySelectorAll("table.stat-map").forEach(function (table) {
    table.querySelectorAll("tbody tr").forEach(function (tr, l) {
      tr.querySelectorAll("td").forEach(function (td, h) {
        var a = document.createElement("a");
        a.href = headPng(l + 1, h + 1);
        a.textContent = td.textContent;
        td.textContent = "";
        td.appendChild(a);
      });
    });
  });
  // clicking a thumbnail or a statistics cell shows that head here (modifier-clicks still open the picture);
  // both are layers x heads tables, so a cell's row and column name its head
  document.querySelectorAll("table.grid tbody tr, table.stat-map tbody tr").forEach(function (tr, _) {
    var l = tr.sectionRowIndex;
    tr.querySelectorAll("td a").forEach(function (a, h) {
      a.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        select(l, h);
        root.scrollIntoView({ block: "start" });
        view.focus({ preventScroll: true });
      });
    });
  });
  root.hidden = false;
  draw();
})();
