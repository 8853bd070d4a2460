// The interactive attention explorer, in the spirit of bertviz's head view: several heads at once, each in its
// own colour, the mean of a layer or of all layers, every weight as a number. Plain JavaScript, no network:
// a sentence page loads its data from view-data.js (window.bertGalleryView), so it works from file://; a
// notebook inlines the same data and this file. BertGallery.explorer(root, data, options) builds one view
// inside `root`; several on one page do not interfere.
(function () {
  "use strict";
  var MIN_LEFT = 0.05;  // with [CLS]/[SEP] hidden, a row with less than this left is not redrawn at full strength

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function decode(data) {
    var raw = atob(data.attention), bytes = new Uint8Array(raw.length);
    for (var k = 0; k < raw.length; k++) bytes[k] = raw.charCodeAt(k);
    return new Uint16Array(bytes.buffer);  // little-endian, as every browser is
  }

  function fill(pattern, layer, head) {  // the one naming scheme Python uses (names.py)
    return pattern.replace("{layer}", layer).replace("{head}", head);
  }

  // Arrow keys move focus among `items` (a roving tab stop: only one is in the tab order); `columns` > 1 makes
  // it a grid.
  // columns 0: only the tab stop; the caller handles the keys.
  function roving(container, items, columns) {
    var current = 0;
    items.forEach(function (item, i) { item.tabIndex = i === 0 ? 0 : -1; });
    function go(i) {
      i = Math.max(0, Math.min(items.length - 1, i));
      items[i].focus();
    }
    if (columns) container.addEventListener("keydown", function (e) {
      var i = items.indexOf(document.activeElement);
      if (i < 0) return;
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -i, End: items.length - 1 - i }[e.key];
      if (step === undefined || (columns === 1 && (e.key === "ArrowLeft" || e.key === "ArrowRight"))) return;
      e.preventDefault();
      go(i + step);
    });
    items.forEach(function (item, i) { item.addEventListener("focus", function () {
      items[current].tabIndex = -1; current = i; item.tabIndex = 0;
    }); });
  }

  function explorer(root, data, options) {
    options = options || {};
    var weights = decode(data), L = data.layers, H = data.heads, T = data.tokens.length;
    var special = {};
    data.special.forEach(function (i) { special[i] = true; });
    var first = data["default"] || [1, 1];
    var state = { layer: first[0] - 1, heads: [first[1] - 1], mode: "heads", hide: false, pin: null };
    var focus = null;  // {side: 0 from / 1 to, i: token position}: hovered or focused, when nothing is pinned
    var onChange = options.onChange || function () {};

    root.textContent = "";
    root.classList.add("bg-explorer");
    var controls = root.appendChild(el("div", { "class": "bg-controls" }));
    var layerLabel = controls.appendChild(el("label", {}, "Layer "));
    var layerSelect = layerLabel.appendChild(el("select", { "class": "bg-layer" }));
    for (var l = 0; l < L; l++) layerSelect.appendChild(el("option", { value: String(l) }, "Layer " + (l + 1)));
    var toolbar = controls.appendChild(el("div", {
      "class": "bg-heads", role: "toolbar",
      "aria-label": "Heads of this layer: arrow keys move, Enter shows only that head, Space adds or removes it" }));
    var squares = [];
    for (var h = 0; h < H; h++) {
      var sq = toolbar.appendChild(el("button", { type: "button", "class": "bg-head", "data-head": String(h) },
                                      String(h + 1)));
      sq.style.setProperty("--head", data.headColours[h]);
      squares.push(sq);
    }
    var modes = controls.appendChild(el("fieldset", { "class": "bg-mode" }));
    modes.appendChild(el("legend", {}, "Show"));
    var name = "bg-mode-" + Math.random().toString(36).slice(2);
    var modeInputs = {};
    [["heads", "the chosen heads"], ["layer", "the mean of the layer"], ["all", "the mean of all layers"]].forEach(function (m) {
      var label = modes.appendChild(el("label"));
      var input = label.appendChild(el("input", { type: "radio", name: name, value: m[0] }));
      label.appendChild(document.createTextNode(" " + m[1]));
      modeInputs[m[0]] = input;
    });
    var hideLabel = controls.appendChild(el("label", { "class": "bg-hide-label" }));
    var hideBox = hideLabel.appendChild(el("input", { type: "checkbox", "class": "bg-hide" }));
    hideLabel.appendChild(document.createTextNode(" Hide [CLS] and [SEP]"));

    root.appendChild(el("p", { "class": "bg-help" },
      "Hover over, tab to or click a token to see its weights as numbers (left: the attending token; right: the " +
      "token attended to); click again or press Esc to let go. In the tokens, ↑/↓ move, ←/→ change sides. In " +
      "the head squares, ←/→ move, Enter shows that head alone, Space adds or removes it; a double click keeps " +
      "only that one."));
    var view = root.appendChild(el("div", { "class": "bg-view" }));
    var columns = [view.appendChild(el("div", { "class": "bg-from", role: "group", "aria-label": "Attending tokens" }))];
    var NS = "http://www.w3.org/2000/svg";
    var svg = view.appendChild(document.createElementNS(NS, "svg"));
    svg.setAttribute("class", "bg-lines");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("preserveAspectRatio", "none");
    columns.push(view.appendChild(el("div", { "class": "bg-to", role: "group", "aria-label": "Tokens attended to" })));
    var status = root.appendChild(el("p", { "class": "bg-status", "aria-live": "polite" }));
    var legend = root.appendChild(el("p", { "class": "bg-legend" }));
    var legendText = legend.appendChild(document.createTextNode(""));
    var picture = legend.appendChild(el("a", { "class": "bg-picture" }));
    var buttons = [[], []];
    for (var side = 0; side < 2; side++) {
      for (var i = 0; i < T; i++) {
        var b = columns[side].appendChild(el("button", { type: "button", "class": "bg-tok", "data-i": String(i) }));
        b.appendChild(el("span", { "class": "bg-gone", "aria-hidden": "true" }));
        b.appendChild(el("span", { "class": "bg-text" }, data.tokens[i]));
        b.appendChild(el("span", { "class": "bg-w" }));
        buttons[side].push(b);
      }
    }

    function weight(layer, head, i, j) { return weights[((layer * H + head) * T + i) * T + j] / data.scale; }
    function shown() {  // [layer, head] pairs whose mean is drawn
      var out = [];
      if (state.mode === "all") { for (var a = 0; a < L; a++) for (var c = 0; c < H; c++) out.push([a, c]); }
      else if (state.mode === "layer") { for (var d = 0; d < H; d++) out.push([state.layer, d]); }
      else state.heads.forEach(function (x) { out.push([state.layer, x]); });
      return out;
    }
    function visible(i) { return !(state.hide && special[i]); }
    function row(pairs, i) {  // weights of token i over the visible tokens (mean over `pairs`), and what is left
      var w = [], left = 0;
      for (var j = 0; j < T; j++) {
        var s = 0;
        pairs.forEach(function (p) { s += weight(p[0], p[1], i, j); });
        w.push(s / pairs.length);
        if (visible(j)) left += w[j];
      }
      if (state.hide) for (var k = 0; k < T; k++) w[k] = visible(k) && left >= MIN_LEFT ? w[k] / left : 0;
      return { w: w, left: left };
    }
    function step(w) { return Math.min(data.colors.length - 1, Math.round(w * (data.colors.length - 1))); }
    function label(layer, head) { return fill(data.names.headName, layer + 1, head + 1); }
    function tagged(layer, head) {  // "Layer 2, head 10 (previous token)"
      var tags = data.tags[layer * H + head];
      return label(layer, head) + (tags.length ? " (" + tags.join(", ") + ")" : "");
    }
    function what() {
      if (state.mode === "all") return "the mean of all " + L * H + " heads";
      if (state.mode === "layer") return "the mean of layer " + (state.layer + 1) + "'s heads";
      return state.heads.map(function (x) { return tagged(state.layer, x); }).join("; ") +
        (state.heads.length > 1 ? " (numbers: their mean)" : "");
    }

    function draw() {
      var pairs = shown(), active = state.pin || focus, rows = [];
      for (var i = 0; i < T; i++) rows.push(row(pairs, i));
      var keep = [];
      for (var k = 0; k < T; k++) if (visible(k)) keep.push(k);
      var pos = {};
      keep.forEach(function (k, n) { pos[k] = n; });
      var ROW = 26, height = keep.length * ROW;
      svg.setAttribute("height", String(height));
      svg.style.height = height + "px";  // beats a page's `svg { height: auto }` (JupyterLab's), which stretches it
      svg.setAttribute("viewBox", "0 0 100 " + height);
      var lines = [], perHead = state.mode === "heads";
      (perHead ? pairs : [null]).forEach(function (p) {
        var colour = p ? data.headColours[p[1]] : "#3b3b3b";
        keep.forEach(function (i) {
          if (state.hide && rows[i].left < MIN_LEFT) return;  // nearly all on [CLS]/[SEP]: nothing honest to draw
          if (active && active.side === 0 && active.i !== i) return;
          var r = p ? row([p], i) : rows[i];
          keep.forEach(function (j) {
            if (active && active.side === 1 && active.i !== j) return;
            var w = r.w[j];
            if (w < 0.02) return;
            lines.push('<line x1="0" y1="' + (pos[i] * ROW + ROW / 2) + '" x2="100" y2="' + (pos[j] * ROW + ROW / 2) +
                       '" stroke="' + colour + '" stroke-opacity="' + Math.min(1, 0.08 + w).toFixed(3) +
                       '" stroke-width="' + (0.5 + 3 * w).toFixed(2) + '"></line>');
          });
        });
      });
      svg.innerHTML = lines.join("");
      var parts = [];
      for (var s = 0; s < 2; s++) {
        buttons[s].forEach(function (b, i) {
          b.hidden = !visible(i);
          var w = null;
          if (active && active.side !== s) w = s === 1 ? rows[active.i].w[i] : rows[i].w[active.i];
          if (active && active.side !== s && s === 0 && state.hide && rows[i].left < MIN_LEFT) w = null;
          b.querySelector(".bg-w").textContent = w === null ? "" : " " + w.toFixed(2);
          b.style.background = w === null ? "" : data.colors[step(w)];
          b.style.color = w === null ? "" : data.light[step(w)] ? "#fff" : "#000";
          var gone = s === 0 && state.hide ? 1 - rows[i].left : 0;
          b.querySelector(".bg-gone").style.width = (gone * 100).toFixed(1) + "%";
          b.title = gone ? Math.round(gone * 100) + " % of its attention is on [CLS]/[SEP]" +
                           (rows[i].left < MIN_LEFT ? ": too little left to draw" : "") : "";
          var on = !!active && active.side === s && active.i === i;
          b.classList.toggle("bg-active", on);
          b.setAttribute("aria-pressed", String(!!state.pin && state.pin.side === s && state.pin.i === i));
          b.setAttribute("aria-label", (s === 0 ? "attending token " : "token attended to ") + data.tokens[i] +
                         (w === null ? "" : ", weight " + w.toFixed(2)));
          if (w !== null) parts.push([w, data.tokens[i]]);
        });
      }
      var stops = buttons[0].concat(buttons[1]);  // the tokens' one tab stop must be on a token that shows
      var stop = stops.filter(function (b) { return b.tabIndex === 0; })[0];
      if (!stop || stop.hidden) {
        stops.forEach(function (b) { b.tabIndex = -1; });
        stops.filter(function (b) { return !b.hidden; })[0].tabIndex = 0;
      }
      squares.forEach(function (q, x) {
        var on = state.mode === "heads" && state.heads.indexOf(x) >= 0;
        q.setAttribute("aria-pressed", String(on));
        q.setAttribute("aria-label", tagged(state.layer, x));
        q.classList.toggle("bg-on", on);
      });
      layerSelect.value = String(state.layer);
      layerSelect.disabled = state.mode === "all";
      modeInputs[state.mode].checked = true;
      hideBox.checked = state.hide;
      var text = what();
      if (active) {
        parts.sort(function (a, b) { return b[0] - a[0]; });
        var tok = data.tokens[active.i];
        var gone = active.side === 0 && state.hide ? Math.round((1 - rows[active.i].left) * 100) : 0;
        text += ": " + tok + (active.side === 0 ? " → " : " ← ") + parts.slice(0, 6).map(function (p) {
          return p[1] + " " + p[0].toFixed(2);
        }).join(", ") + (parts.length > 6 ? ", …" : "") + (gone ? " (" + gone + " % of its attention is on " +
          "[CLS]/[SEP]" + (rows[active.i].left < MIN_LEFT ? ", too little left to show" : ", the rest renormalised") + ")" : "");
      }
      status.textContent = text;
      // updated in place: rebuilding it when a token loses focus took the focus from the link tabbed to
      legendText.textContent = (perHead ? "Line colour: the head (squares above); " : "Lines: the mean; ") +
        "line strength and width: the attention weight, 0 to 1. Numbers: weights of the highlighted token" +
        (state.hide ? ", each row renormalised over the tokens shown; a grey bar behind a token: the share of its " +
         "attention on [CLS]/[SEP]" : "") + ". ";
      var one = state.mode === "heads" && state.heads.length === 1 && options.pictureLink !== false;
      picture.hidden = !one;
      if (one) {
        picture.href = fill(data.names.headPng, state.layer + 1, state.heads[0] + 1);
        picture.textContent = "Open the full picture of " + label(state.layer, state.heads[0]);
      }
    }

    function set(change, quiet) {
      var was = JSON.stringify(state);
      Object.keys(change).forEach(function (k) { state[k] = change[k]; });
      if (state.pin && !visible(state.pin.i)) state.pin = null;
      focus = null;
      draw();
      if (!quiet && JSON.stringify(state) !== was) onChange(get());  // only a real change makes a history entry
    }
    function get() {
      return { layer: state.layer, heads: state.heads.slice(), mode: state.mode, hide: state.hide,
               pin: state.pin ? { side: state.pin.side, i: state.pin.i } : null };
    }

    layerSelect.addEventListener("change", function () { set({ layer: +layerSelect.value }); });
    Object.keys(modeInputs).forEach(function (m) {
      modeInputs[m].addEventListener("change", function () { if (modeInputs[m].checked) set({ mode: m }); });
    });
    hideBox.addEventListener("change", function () { set({ hide: hideBox.checked }); });
    roving(toolbar, squares, H);  // a toolbar: ←/→ move focus along it
    squares.forEach(function (q, x) {
      var timer = null;
      q.addEventListener("click", function (e) {  // a click toggles the head; a double click keeps only it
        if (e.detail > 1) return;
        clearTimeout(timer);
        timer = setTimeout(function () {
          var heads = state.mode === "heads" ? state.heads.slice() : [];
          var at = heads.indexOf(x);
          if (at >= 0 && heads.length > 1) heads.splice(at, 1); else if (at < 0) heads.push(x);
          heads.sort(function (a, b) { return a - b; });
          set({ mode: "heads", heads: heads });
        }, e.detail === 0 ? 0 : 250);
      });
      q.addEventListener("dblclick", function () { clearTimeout(timer); set({ mode: "heads", heads: [x] }); });
      q.addEventListener("keydown", function (e) {
        if (e.key === "Enter") { e.preventDefault(); set({ mode: "heads", heads: [x] }); }
      });
    });
    // tokens: one tab stop; ↑/↓ move, ←/→ change sides; focus and highlight move together
    roving(view, buttons[0].concat(buttons[1]), 0);
    view.addEventListener("keydown", function (e) {
      var all = buttons[0].concat(buttons[1]), at = all.indexOf(document.activeElement);
      if (at < 0) return;
      var s = at < T ? 0 : 1, i = at % T;
      if (e.key === "Escape") { e.preventDefault(); set({ pin: null }); focus = { side: s, i: i }; draw(); return; }
      if (e.key !== "ArrowUp" && e.key !== "ArrowDown" && e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      var next = i, ns = s;
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") ns = e.key === "ArrowRight" ? 1 : 0;
      else do { next += e.key === "ArrowDown" ? 1 : -1; } while (next >= 0 && next < T && !visible(next));
      if (next < 0 || next >= T) return;
      buttons[ns][next].focus();
    });
    [0, 1].forEach(function (s) {
      buttons[s].forEach(function (b, i) {
        var enter = function () { if (!state.pin) { focus = { side: s, i: i }; draw(); } };
        var leave = function () { if (!state.pin) { focus = null; draw(); } };
        b.addEventListener("mouseenter", enter);
        b.addEventListener("focus", enter);
        b.addEventListener("mouseleave", leave);
        b.addEventListener("blur", leave);
        b.addEventListener("click", function () {
          var same = state.pin && state.pin.side === s && state.pin.i === i;
          set({ pin: same ? null : { side: s, i: i } });
          if (same) { focus = { side: s, i: i }; draw(); }
        });
      });
    });
    draw();
    var initial = get();
    return {
      select: function (layer, head) { set({ mode: "heads", layer: layer, heads: [head] }); },
      reset: function () { set(initial, true); },
      focusHead: function () { squares[state.mode === "heads" ? state.heads[0] : 0].focus(); },
      set: function (change) { set(change, true); },
      get: get,
      root: root
    };
  }

  // ---- the sentence page: the view, the address bar, the overview and the statistics maps
  function hashOf(s, H) {
    var parts = ["l=" + (s.mode === "all" ? "all" : s.layer + 1),
                 "h=" + (s.mode === "heads" ? s.heads.map(function (x) { return x + 1; }).join(",") : "mean")];
    if (s.pin) parts.push("t=" + s.pin.i + (s.pin.side ? "r" : ""));
    if (s.hide) parts.push("hide=1");
    return "#" + parts.join("&");
  }
  function parseHash(hash, L, H, T) {  // "#l=3&h=5,7&t=6": layer and heads 1-based, token 0-based
    var out = {}, q = {};
    hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var p = kv.split("=");
      if (p.length === 2) q[p[0]] = decodeURIComponent(p[1]);
    });
    if (!q.l && !q.h) return null;
    if (q.l === "all") out.mode = "all";
    else if (/^\d+$/.test(q.l || "") && +q.l >= 1 && +q.l <= L) out.layer = +q.l - 1;
    if (q.h === "mean") out.mode = out.mode || "layer";
    else if (q.h) {
      var heads = q.h.split(",").filter(function (x) { return /^\d+$/.test(x) && +x >= 1 && +x <= H; })
        .map(function (x) { return +x - 1; });
      if (heads.length) { out.heads = heads; out.mode = "heads"; }
    }
    var t = /^(\d+)(r?)$/.exec(q.t || "");
    out.pin = t && +t[1] < T ? { side: t[2] ? 1 : 0, i: +t[1] } : null;
    out.hide = q.hide === "1";
    return out;
  }

  function page() {
    var data = window.bertGalleryView, root = document.querySelector("#explore .explorer"), view = null;
    if (data && root) {
      var L = data.layers, H = data.heads, T = data.tokens.length;
      view = explorer(root, data, { onChange: function (s) {
        if (hashOf(s, H) !== location.hash) history.pushState(null, "", hashOf(s, H));
      } });
      document.getElementById("explore").hidden = false;
      var fromHash = parseHash(location.hash, L, H, T);
      if (fromHash) {  // a shared link: open on its view
        view.set(fromHash);
        document.getElementById("explore").scrollIntoView({ block: "start" });
      }
      window.addEventListener("popstate", function () {
        var s = parseHash(location.hash, L, H, T);
        if (s) view.set(s); else view.reset();  // back to the address without a view: the first view
      });
    }
    function show(layer, head, keyboard) {
      view.select(layer, head);
      document.getElementById("explore").scrollIntoView({ block: "start" });
      if (keyboard) view.focusHead();  // focus goes where the page went
    }
    // the overview's tiles and every statistics map: one tab stop each, arrow keys inside, every cell named
    function grid(container, links, cols, name) {
      roving(container, links, cols);
      links.forEach(function (a, k) {
        var layer = Math.floor(k / cols), head = k % cols;
        if (name) a.setAttribute("aria-label", name(layer, head));
        if (!view) return;  // the heads pages: the link goes to the head's own page
        a.addEventListener("click", function (e) {
          if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;  // the picture itself
          e.preventDefault();
          show(layer, head, e.detail === 0);
        });
      });
    }
    document.querySelectorAll(".launcher").forEach(function (launcher) {
      grid(launcher, Array.prototype.slice.call(launcher.querySelectorAll("a")), +launcher.dataset.heads, null);
    });
    // every layers x heads map: one tab stop, arrow keys inside, each cell named "Layer 2, head 10, what 0.53"
    document.querySelectorAll("table.stat-map[data-values]").forEach(function (table) {
      var values = table.dataset.values.split(" "), caption = table.dataset.name, cols = +table.dataset.heads;
      var links = [];
      table.querySelectorAll("tbody td").forEach(function (td, k) {
        var a = td.querySelector("a");
        if (!a) {  // the sentence page ships its cells bare: a link in each was a third of the page's bytes
          a = el("a", { href: fill(table.dataset.href, Math.floor(k / cols) + 1, k % cols + 1) }, td.textContent);
          td.textContent = "";
          td.appendChild(a);
        }
        links.push(a);
      });
      grid(table, links, cols, function (layer, head) {
        return fill(table.dataset.label, layer + 1, head + 1) + ", " + caption + " " + values[layer * cols + head];
      });
    });
  }

  window.BertGallery = { explorer: explorer };
  page();
})();
