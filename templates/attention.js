// The interactive attention explorer, in the spirit of bertviz's head view: several heads at once, each in its
// own colour, the mean of a layer or of all layers, every weight as a number, a model switch, lenses (weights,
// value-weighted, contributions) and a segment filter. Plain JavaScript, no network: a sentence page loads one
// view-data.js per model, each pushing its view onto window.bertGalleryViews, so it works from file://; a
// notebook inlines the same data and this file.
//
// BertGallery.explorer(root, views, options) builds one explorer inside `root` over ONE view state
// {model, layer, heads, mode, lens, filter, hide, pin}: `build` makes the DOM once, `draw` only rewrites
// attributes and text (the lines are one <path> per head slot and weight bucket, whose `d` is rewritten), so
// no SVG node is created after the first draw. Several explorers on one page do not interfere.
(function () {
  "use strict";
  var MIN_LEFT = 0.05;  // with [CLS]/[SEP] hidden, a row with less than this left is not drawn at all
  var MIN_LINE = 0.02;  // weaker lines are not drawn
  var ROW = 26;  // px per token: the columns' buttons and the lines agree on it
  var EDGES = [MIN_LINE, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.55, 0.7, 0.85, Infinity];  // the weight buckets
  var MODES = [["heads", "the chosen heads"], ["layer", "the mean of the layer"], ["all", "the mean of all layers"]];
  var LENSES = [["weights", "attention weights"], ["value", "value-weighted"], ["contributions", "contributions"]];
  var FILTERS = [["all", "All"], ["AA", "A→A"], ["BB", "B→B"], ["AB", "A→B"], ["BA", "B→A"]];
  var NS = "http://www.w3.org/2000/svg";
  var DEFAULTS = { model: 0, lens: "weights", filter: "all", hide: false, pin: null };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fill(pattern, layer, head) {  // the one naming scheme Python uses (names.py)
    return pattern.replace("{layer}", layer).replace("{head}", head);
  }

  // A field of the data contract as {a: typed array, k: factor to 0-1}: base64 of little-endian uint16 × scale
  // (the pages), or a Float32Array already 0-1 (the live page).
  function numbers(field, scale) {
    if (field === null || field === undefined) return null;
    if (typeof field !== "string") return { a: field, k: 1 };
    var raw = atob(field), bytes = new Uint8Array(raw.length);
    for (var n = 0; n < raw.length; n++) bytes[n] = raw.charCodeAt(n);
    return { a: new Uint16Array(bytes.buffer), k: 1 / scale };  // little-endian, as every browser is
  }

  // One model's view, decoded once.
  function prepare(view) {
    var special = {};
    view.special.forEach(function (i) { special[i] = true; });
    return { view: view, L: view.layers, H: view.heads, T: view.tokens.length, special: special,
             segments: view.segments || null, att: numbers(view.attention, view.scale),
             norms: numbers(view.norms, 1), contributions: numbers(view.contributions, view.scale) };
  }

  function lensOf(m, lens) {  // the lens if this model has its data, else the raw weights
    return (lens === "value" && m.norms) || (lens === "contributions" && m.contributions) ? lens : "weights";
  }

  // The state made valid for model `m`: layer and heads kept where it has them, else clamped.
  function fit(state, m) {
    var heads = [];
    state.heads.forEach(function (x) {
      x = Math.max(0, Math.min(m.H - 1, x));
      if (heads.indexOf(x) < 0) heads.push(x);
    });
    if (!heads.length) heads = [0];
    var pin = state.pin && state.pin.i < m.T ? state.pin : null;
    if (pin && state.hide && m.special[pin.i]) pin = null;
    return { model: state.model, layer: Math.max(0, Math.min(m.L - 1, state.layer)),
             heads: heads.sort(function (a, b) { return a - b; }), mode: state.mode, lens: lensOf(m, state.lens),
             filter: m.segments ? state.filter : "all", hide: state.hide, pin: pin };
  }

  function initial(m, k) {
    var first = m.view["default"] || [1, 1];
    return fit({ model: k, layer: first[0] - 1, heads: [first[1] - 1], mode: "heads", lens: DEFAULTS.lens,
                 filter: DEFAULTS.filter, hide: DEFAULTS.hide, pin: DEFAULTS.pin }, m);
  }

  // The rows a state draws: per head slot (a chosen head, or one slot for a mean), each token's row over the
  // tokens shown, renormalised when [CLS]/[SEP] are hidden; and the mean of the slots, which the numbers show.
  function compute(m, s) {
    var T = m.T, sources = [], perHead = s.mode === "heads" && s.lens !== "contributions";
    if (s.lens === "contributions") {
      for (var c = 0; c < m.L; c++) if (s.mode === "all" || c === s.layer) sources.push([c, -1]);
    } else if (s.mode === "all") {
      for (var a = 0; a < m.L; a++) for (var b = 0; b < m.H; b++) sources.push([a, b]);
    } else if (s.mode === "layer") {
      for (var d = 0; d < m.H; d++) sources.push([s.layer, d]);
    } else s.heads.forEach(function (x) { sources.push([s.layer, x]); });
    function row(src, i, out, share) {  // adds one source's row of token i, times `share`, into out
      var A = m.att.a, k = m.att.k, base, j;
      if (src[1] < 0) {
        A = m.contributions.a; k = m.contributions.k; base = (src[0] * T + i) * T;
        for (j = 0; j < T; j++) out[j] += A[base + j] * k * share;
        return;
      }
      base = ((src[0] * m.H + src[1]) * T + i) * T;
      if (s.lens !== "value") {
        for (j = 0; j < T; j++) out[j] += A[base + j] * k * share;
        return;
      }
      var N = m.norms.a, nb = (src[0] * m.H + src[1]) * T, sum = 0;  // α[i, j]·‖f(x_j)‖, row-normalised
      for (j = 0; j < T; j++) sum += A[base + j] * N[nb + j];
      if (sum > 0) for (j = 0; j < T; j++) out[j] += A[base + j] * N[nb + j] / sum * share;
    }
    function rows(list) {
      var out = [], left = new Float64Array(T);
      for (var i = 0; i < T; i++) {
        var r = new Float64Array(T), kept = 0;
        list.forEach(function (src) { row(src, i, r, 1 / list.length); });
        for (var j = 0; j < T; j++) if (!(s.hide && m.special[j])) kept += r[j];
        if (s.hide) for (var q = 0; q < T; q++) r[q] = !m.special[q] && kept >= MIN_LEFT ? r[q] / kept : 0;
        left[i] = kept;
        out.push(r);
      }
      return { rows: out, left: left };
    }
    var mean = rows(sources);
    var slots = perHead && sources.length > 1 ? sources.map(function (src) { return { head: src[1], rows: rows([src]) }; })
                                              : [{ head: perHead ? sources[0][1] : -1, rows: mean }];
    return { mean: mean, slots: slots };
  }

  function passes(m, filter, i, j) {  // whether the segment filter lets the line i → j through
    if (filter === "all" || !m.segments) return true;
    return m.segments[i] === (filter[0] === "B" ? 1 : 0) && m.segments[j] === (filter[1] === "B" ? 1 : 0);
  }

  // Arrow keys move focus among items() (a roving tab stop: only one is in the tab order); `columns` > 1 makes
  // it a grid; columns 0: only the tab stop, the caller handles the keys.
  function roving(container, items, columns) {
    var current = null;
    function list() { return typeof items === "function" ? items() : items; }
    list().forEach(function (item, i) { item.tabIndex = i === 0 ? 0 : -1; });
    if (columns) container.addEventListener("keydown", function (e) {
      var all = list(), i = all.indexOf(document.activeElement);
      if (i < 0) return;
      var cols = typeof columns === "function" ? columns() : columns;
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols, Home: -i, End: all.length - 1 - i }[e.key];
      if (step === undefined || (cols === 1 && (e.key === "ArrowLeft" || e.key === "ArrowRight"))) return;
      e.preventDefault();
      all[Math.max(0, Math.min(all.length - 1, i + step))].focus();
    });
    container.addEventListener("focusin", function (e) {
      var all = list();
      if (all.indexOf(e.target) < 0) return;
      if (current && current !== e.target) current.tabIndex = -1;
      current = e.target;
      current.tabIndex = 0;
    });
  }

  function keepStop(items) {  // a roving tab stop must be on an item that shows
    var stop = items.filter(function (b) { return b.tabIndex === 0; })[0];
    if (stop && !stop.hidden) return;
    items.forEach(function (b) { b.tabIndex = -1; });
    items.filter(function (b) { return !b.hidden; })[0].tabIndex = 0;
  }

  // The explorer's DOM, made once for the largest of its views; `draw` only updates it.
  function build(root, models, options) {
    var L = 0, H = 0, T = 0, ui = {};
    models.forEach(function (m) { L = Math.max(L, m.L); H = Math.max(H, m.H); T = Math.max(T, m.T); });
    root.textContent = "";
    root.classList.add("bg-explorer");
    if (options.colours === "inherit") root.classList.add("bg-inherit");
    var uid = "bg-" + Math.random().toString(36).slice(2);
    var controls = root.appendChild(el("div", { "class": "bg-controls" }));
    var modelLabel = controls.appendChild(el("label", { "class": "bg-model-label" }, "Model "));
    ui.model = modelLabel.appendChild(el("select", { "class": "bg-model" }));
    models.forEach(function (m, k) { ui.model.appendChild(el("option", { value: String(k) }, m.name)); });
    modelLabel.hidden = models.length < 2;
    var layerLabel = controls.appendChild(el("label", {}, "Layer "));
    ui.layer = layerLabel.appendChild(el("select", { "class": "bg-layer" }));
    ui.layers = [];
    for (var l = 0; l < L; l++) ui.layers.push(ui.layer.appendChild(el("option", { value: String(l) }, "Layer " + (l + 1))));
    ui.toolbar = controls.appendChild(el("div", {
      "class": "bg-heads", role: "toolbar",
      "aria-label": "Heads of this layer: arrow keys move, Enter shows only that head, Space adds or removes it" }));
    ui.squares = [];
    for (var h = 0; h < H; h++) {
      ui.squares.push(ui.toolbar.appendChild(el("button", { type: "button", "class": "bg-head", "data-head": String(h) },
                                                String(h + 1))));
    }
    function radios(cls, legend, choices) {
      var set = controls.appendChild(el("fieldset", { "class": cls }));
      set.appendChild(el("legend", {}, legend));
      var inputs = {};
      choices.forEach(function (c) {
        var label = set.appendChild(el("label"));
        inputs[c[0]] = label.appendChild(el("input", { type: "radio", name: uid + cls, value: c[0] }));
        label.appendChild(document.createTextNode(" " + c[1]));
      });
      return { set: set, inputs: inputs };
    }
    ui.modes = radios("bg-mode", "Show", MODES);
    ui.lenses = radios("bg-lens", "Lens", LENSES);
    ui.filters = radios("bg-filter", "Lines", FILTERS);
    var hideLabel = controls.appendChild(el("label", { "class": "bg-hide-label" }));
    ui.hide = hideLabel.appendChild(el("input", { type: "checkbox", "class": "bg-hide" }));
    hideLabel.appendChild(document.createTextNode(" Hide [CLS] and [SEP]"));
    ui.aside = root.appendChild(el("p", { "class": "bg-aside" }));
    ui.note = root.appendChild(el("p", { "class": "bg-note", role: "status" }));
    var touch = window.matchMedia && window.matchMedia("(hover: none)").matches;  // a phone or tablet: no hover
    root.appendChild(el("p", { "class": "bg-help" }, (touch ?
      "Tap a token to see its weights as numbers (left: the attending token; right: the token attended to); tap " +
      "it again to let go. " :
      "Hover over, tab to or click a token to see its weights as numbers (left: the attending token; right: the " +
      "token attended to); click again or press Esc to let go. In the tokens, ↑/↓ move, ←/→ change sides. ") +
      (touch ? "A tap on a head square adds or removes its head; a double tap shows that head alone." :
      "A head square adds or removes its head (Space too); a double click or Enter shows that head alone.")));
    var view = ui.view = root.appendChild(el("div", { "class": "bg-view" }));
    ui.columns = [view.appendChild(el("div", { "class": "bg-from", role: "group", "aria-label": "Attending tokens" }))];
    var svg = ui.svg = view.appendChild(document.createElementNS(NS, "svg"));
    svg.setAttribute("class", "bg-lines");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("preserveAspectRatio", "none");
    ui.boundary = svg.appendChild(document.createElementNS(NS, "line"));  // between segments A and B
    ui.boundary.setAttribute("class", "bg-boundary");
    ui.boundary.setAttribute("x1", "0");
    ui.boundary.setAttribute("x2", "100");
    ui.slots = [];  // per head slot, a <g> of one <path> per weight bucket
    for (var s = 0; s < H; s++) {
      var g = svg.appendChild(document.createElementNS(NS, "g"));
      g.setAttribute("class", "bg-slot");
      var paths = [];
      for (var b = 0; b + 1 < EDGES.length; b++) {
        var p = g.appendChild(document.createElementNS(NS, "path"));
        var w = b + 2 < EDGES.length ? (EDGES[b] + EDGES[b + 1]) / 2 : 0.93;
        p.setAttribute("stroke-opacity", Math.min(1, 0.15 + w).toFixed(2));
        p.setAttribute("data-w", w.toFixed(3));
        p.setAttribute("vector-effect", "non-scaling-stroke");
        p.setAttribute("d", "");
        paths.push(p);
      }
      ui.slots.push({ g: g, paths: paths });
    }
    ui.columns.push(view.appendChild(el("div", { "class": "bg-to", role: "group", "aria-label": "Tokens attended to" })));
    ui.status = root.appendChild(el("p", { "class": "bg-status", "aria-live": "polite" }));
    var legend = root.appendChild(el("p", { "class": "bg-legend" }));
    ui.legend = legend.appendChild(document.createTextNode(""));
    ui.picture = legend.appendChild(el("a", { "class": "bg-picture" }));
    ui.tokens = [[], []];
    for (var side = 0; side < 2; side++) {
      for (var i = 0; i < T; i++) {
        var t = ui.columns[side].appendChild(el("button", { type: "button", "class": "bg-tok", "data-i": String(i) }));
        t.bgText = t.appendChild(el("span", { "class": "bg-text" }));
        t.bgW = t.appendChild(el("span", { "class": "bg-w" }));
        t.bgBar = t.appendChild(el("span", { "class": "bg-bar", "aria-hidden": "true" }));
        t.bgGone = t.bgBar.appendChild(el("span", { "class": "bg-gone" }));
        ui.tokens[side].push(t);
      }
    }
    return ui;
  }

  function explorer(root, views, options) {
    options = options || {};
    views = Array.isArray(views) ? views : [views];
    var models = views.map(prepare);
    var about = (options.models || []).slice(0, views.length);
    models.forEach(function (m, k) {
      var a = about[k] || {};
      m.name = a.name || m.view.model || "model " + (k + 1);
      m.heads = typeof a.heads === "string" ? a.heads : null;  // where its head pages are, relative to the page
    });
    var ui = build(root, models, options);
    var start = initial(models[0], 0);
    var state = start, focus = null;  // focus: {side, i}, the token hovered or focused while nothing is pinned
    var cache = { key: null, rows: null };
    var onChange = options.onChange || function () {};
    var onView = options.onView || function () {};

    function model() { return models[state.model]; }
    function computed() {  // the rows depend on neither the pin nor the hovered token: kept while they change
      var s = state, key = [s.model, s.layer, s.heads.join(","), s.mode, s.lens, s.hide].join("|");
      if (cache.key !== key) { cache.key = key; cache.rows = compute(model(), s); }
      return cache.rows;
    }
    function label(layer, head) { return fill(model().view.names.headName, layer + 1, head + 1); }
    function tagged(layer, head) {  // "Layer 2, head 10 (previous token)"
      var tags = model().view.tags[layer * model().H + head];
      return label(layer, head) + (tags.length ? " (" + tags.join(", ") + ")" : "");
    }
    function what() {
      var m = model(), lens = { weights: "", value: ", value-weighted" }[state.lens];
      if (state.lens === "contributions") {
        return (state.mode === "all" ? "contributions, the mean of all " + m.L + " layers"
                                     : "contributions of layer " + (state.layer + 1)) + " (every head and the residual)";
      }
      if (state.mode === "all") return "the mean of all " + m.L * m.H + " heads" + lens;
      if (state.mode === "layer") return "the mean of layer " + (state.layer + 1) + "'s heads" + lens;
      return state.heads.map(function (x) { return tagged(state.layer, x); }).join("; ") + lens +
        (state.heads.length > 1 ? " (numbers: their mean)" : "");
    }
    function step(w) {
      var n = model().view.colors.length - 1;
      return Math.max(0, Math.min(n, Math.round(w * n)));
    }
    function visible(i) { return !(state.hide && model().special[i]); }

    function drawLines(c, active) {
      var m = model(), keep = [], pos = {}, n = c.slots.length;
      for (var k = 0; k < m.T; k++) if (visible(k)) { pos[k] = keep.length; keep.push(k); }
      var height = keep.length * ROW;
      ui.svg.setAttribute("height", String(height));
      ui.svg.style.height = height + "px";  // beats a page's `svg { height: auto }` (JupyterLab's), which stretches it
      ui.svg.setAttribute("viewBox", "0 0 100 " + height);
      // several heads side by side: each slot's lines shifted within the token's row, so none hides another
      var gap = n > 1 ? Math.min(3, (ROW - 10) / (n - 1)) : 0, thin = n > 1 ? 0.75 : 1;
      ui.slots.forEach(function (slot, s) {
        var parts = [];
        for (var b = 0; b < slot.paths.length; b++) parts.push([]);
        if (s < n) {
          var rows = c.slots[s].rows, off = (s - (n - 1) / 2) * gap;
          keep.forEach(function (i) {
            if (state.hide && c.mean.left[i] < MIN_LEFT) return;  // nearly all on [CLS]/[SEP]: nothing honest to draw
            if (active && active.side === 0 && active.i !== i) return;
            var r = rows.rows[i], y1 = (pos[i] * ROW + ROW / 2 + off).toFixed(1);
            keep.forEach(function (j) {
              var w = r[j];
              if (w < MIN_LINE || (active && active.side === 1 && active.i !== j) || !passes(m, state.filter, i, j)) return;
              var b = 0;
              while (w >= EDGES[b + 1]) b++;
              parts[b].push("M0 " + y1 + "L100 " + (pos[j] * ROW + ROW / 2 + off).toFixed(1));
            });
          });
          var head = c.slots[s].head;
          slot.g.style.setProperty("--head", head >= 0 ? m.view.headColours[head] : "var(--mean)");
        }
        slot.g.setAttribute("class", s < n ? "bg-slot" : "bg-slot bg-unused");
        slot.paths.forEach(function (p, b) {
          var d = parts[b].join("");
          if (p.getAttribute("d") !== d) p.setAttribute("d", d);
          var width = ((0.5 + 3 * +p.getAttribute("data-w")) * thin).toFixed(2);
          if (p.getAttribute("stroke-width") !== width) p.setAttribute("stroke-width", width);
        });
      });
      var boundary = -1;
      if (m.segments) keep.forEach(function (k, n) { if (boundary < 0 && m.segments[k] === 1) boundary = n; });
      ui.boundary.setAttribute("class", boundary > 0 ? "bg-boundary" : "bg-boundary bg-unused");
      ui.boundary.setAttribute("y1", String(Math.max(0, boundary) * ROW));
      ui.boundary.setAttribute("y2", String(Math.max(0, boundary) * ROW));
    }

    function drawTokens(c, active) {
      var m = model(), parts = [];
      for (var s = 0; s < 2; s++) {
        ui.tokens[s].forEach(function (b, i) {
          if (i >= m.T) { b.hidden = true; return; }
          b.hidden = !visible(i);
          if (b.bgText.textContent !== m.view.tokens[i]) b.bgText.textContent = m.view.tokens[i];
          var w = null;
          if (active && active.side !== s) w = s === 1 ? c.mean.rows[active.i][i] : c.mean.rows[i][active.i];
          if (active && active.side !== s && s === 0 && state.hide && c.mean.left[i] < MIN_LEFT) w = null;
          b.bgW.textContent = w === null ? "" : " " + w.toFixed(2);
          b.style.background = w === null ? "" : m.view.colors[step(w)];
          b.style.color = w === null ? "" : m.view.light[step(w)] ? "#fff" : "#000";
          var gone = s === 0 && state.hide ? Math.max(0, 1 - c.mean.left[i]) : 0;
          b.bgGone.style.width = (gone * 100).toFixed(1) + "%";
          b.bgBar.hidden = !(s === 0 && state.hide);
          b.title = gone ? Math.round(gone * 100) + " % of its attention is on [CLS]/[SEP]" +
                           (c.mean.left[i] < MIN_LEFT ? ": too little left to draw" : "") : "";
          if (m.segments) b.setAttribute("data-seg", m.segments[i] ? "B" : "A"); else b.removeAttribute("data-seg");
          b.classList.toggle("bg-active", !!active && active.side === s && active.i === i);
          b.setAttribute("aria-pressed", String(!!state.pin && state.pin.side === s && state.pin.i === i));
          b.setAttribute("aria-label", (s === 0 ? "attending token " : "token attended to ") + m.view.tokens[i] +
                         (m.segments ? " (segment " + (m.segments[i] ? "B" : "A") + ")" : "") +
                         (w === null ? "" : ", weight " + w.toFixed(2)));
          if (w !== null) parts.push([w, m.view.tokens[i]]);
        });
      }
      keepStop(ui.tokens[0].concat(ui.tokens[1]));
      var text = what();
      if (active) {
        parts.sort(function (a, b) { return b[0] - a[0]; });
        var gone = active.side === 0 && state.hide ? Math.round((1 - c.mean.left[active.i]) * 100) : 0;
        text += ": " + m.view.tokens[active.i] + (active.side === 0 ? " → " : " ← ") +
          parts.slice(0, 6).map(function (p) { return p[1] + " " + p[0].toFixed(2); }).join(", ") +
          (parts.length > 6 ? ", …" : "") + (gone ? " (" + gone + " % of its attention is on [CLS]/[SEP]" +
          (c.mean.left[active.i] < MIN_LEFT ? ", too little left to show" : ", the rest renormalised") + ")" : "");
      }
      ui.status.textContent = text;
    }

    function drawControls() {
      var m = model(), contributions = state.lens === "contributions";
      ui.model.value = String(state.model);
      ui.layers.forEach(function (o, l) { o.hidden = o.disabled = l >= m.L; });
      ui.layer.value = String(state.layer);
      ui.layer.disabled = state.mode === "all";
      ui.toolbar.hidden = contributions;  // contributions are per layer: the head squares step aside
      ui.modes.set.hidden = contributions;
      ui.squares.forEach(function (q, x) {
        q.hidden = x >= m.H;
        var on = !q.hidden && state.mode === "heads" && state.heads.indexOf(x) >= 0;
        if (!q.hidden) q.style.setProperty("--head", m.view.headColours[x]);
        q.setAttribute("aria-pressed", String(on));
        q.setAttribute("aria-label", q.hidden ? "" : tagged(state.layer, x));
        q.classList.toggle("bg-on", on);
      });
      keepStop(ui.squares);
      ui.modes.inputs[state.mode].checked = true;
      ui.lenses.set.hidden = !m.norms && !m.contributions;
      ui.lenses.inputs.value.parentNode.hidden = !m.norms;
      ui.lenses.inputs.contributions.parentNode.hidden = !m.contributions;
      ui.lenses.inputs[state.lens].checked = true;
      ui.filters.set.hidden = !m.segments;
      ui.filters.inputs[state.filter].checked = true;
      ui.hide.checked = state.hide;
      ui.aside.hidden = !contributions;
      ui.aside.textContent = contributions ? "Contributions are per layer: every head and the residual path " +
        "together, how much each token's vector makes up each token's output of the layer. So the head squares " +
        "step aside; the lens “attention weights” brings them back." : "";
      var lens = { weights: "the attention weight", value: "the value-weighted attention (each weight times the " +
        "norm of what its token passes on, each row renormalised)", contributions: "the token's contribution to " +
        "the layer's output (each row sums to 1)" }[state.lens];
      var perHead = state.mode === "heads" && !contributions;
      ui.legend.textContent = (perHead ? "Line colour: the head (squares above); " : "Lines: the mean; ") +
        "line strength and width: " + lens + ", 0 to 1." +
        (state.filter !== "all" ? " Only lines from segment " + state.filter[0] + " to segment " + state.filter[1] + "." : "") +
        " Numbers: weights of the highlighted token" +
        (state.hide ? ", each row renormalised over the tokens shown; a grey bar under a token: the share of its " +
         "attention on [CLS]/[SEP]" : "") + ". ";
      var one = perHead && state.heads.length === 1 && m.heads !== null && !!m.view.names.headPage;
      ui.picture.hidden = !one;
      if (one) {  // the head's own page: its picture in every sentence, and the way back
        ui.picture.href = m.heads + fill(m.view.names.headPage, state.layer + 1, state.heads[0] + 1);
        ui.picture.textContent = label(state.layer, state.heads[0]) + " in every sentence";
      }
      if (options.colours === "inherit") {  // light text around it: a dark notebook theme
        var rgb = (getComputedStyle(root).color.match(/[\d.]+/g) || [0, 0, 0]).map(Number);
        root.classList.toggle("bg-dark", 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] > 128);
      }
    }

    function draw() {
      var c = computed(), active = state.pin || focus;
      drawControls();
      drawLines(c, active);
      drawTokens(c, active);
    }
    function hover() {  // only the highlighted token changed
      var c = computed(), active = state.pin || focus;
      drawLines(c, active);
      drawTokens(c, active);
    }

    function set(change, how) {
      how = how || {};
      var was = JSON.stringify(state), next = {};
      Object.keys(state).forEach(function (k) { next[k] = k in change ? change[k] : state[k]; });
      if (next.model !== state.model) {  // a token pinned in the other model stays pinned only if it is the same
        next.model = Math.max(0, Math.min(models.length - 1, next.model));
        if (next.pin && !("pin" in change) && (next.pin.i >= models[next.model].T ||
                         models[next.model].view.tokens[next.pin.i] !== model().view.tokens[next.pin.i])) next.pin = null;
      }
      state = fit(next, models[next.model]);
      focus = null;
      ui.note.textContent = how.note || "";
      draw();
      var changed = JSON.stringify(state) !== was;
      if (!how.quiet && changed) onChange(get(), !!how.replace);  // only a real change makes a history entry
      onView(get());
      return changed;
    }
    function get() {
      return { model: state.model, layer: state.layer, heads: state.heads.slice(), mode: state.mode, lens: state.lens,
               filter: state.filter, hide: state.hide, pin: state.pin ? { side: state.pin.side, i: state.pin.i } : null };
    }

    ui.model.addEventListener("change", function () { set({ model: +ui.model.value }); });
    ui.layer.addEventListener("change", function () { set({ layer: +ui.layer.value }); });
    [["modes", "mode"], ["lenses", "lens"], ["filters", "filter"]].forEach(function (g) {
      Object.keys(ui[g[0]].inputs).forEach(function (v) {
        ui[g[0]].inputs[v].addEventListener("change", function () {
          if (ui[g[0]].inputs[v].checked) { var c = {}; c[g[1]] = v; set(c); }
        });
      });
    });
    ui.hide.addEventListener("change", function () { set({ hide: ui.hide.checked }); });
    function shownSquares() { return ui.squares.filter(function (q) { return !q.hidden; }); }
    roving(ui.toolbar, shownSquares, function () { return shownSquares().length; });  // a toolbar: ←/→ move
    var toggled = false;  // the first click of a double click made a history entry: the double click replaces it
    ui.squares.forEach(function (q, x) {
      q.addEventListener("click", function (e) {  // at once: a click adds or removes the head
        if (e.detail > 1) return;  // the second click of a double click: the dblclick decides
        var heads = state.mode === "heads" ? state.heads.slice() : [];
        var at = heads.indexOf(x);
        if (at >= 0 && heads.length === 1) {
          toggled = set({}, { note: label(state.layer, x) + " is the only head shown, so it stays: choose " +
                              "another head to add it, or show the mean of the layer." });
          return;
        }
        if (at >= 0) heads.splice(at, 1); else heads.push(x);
        toggled = set({ mode: "heads", heads: heads });
      });
      q.addEventListener("dblclick", function () {
        set({ mode: "heads", heads: [x] }, { replace: toggled });
        toggled = false;
      });
      q.addEventListener("keydown", function (e) {
        if (e.key === "Enter") { e.preventDefault(); set({ mode: "heads", heads: [x] }); }
      });
    });
    // tokens: one tab stop; ↑/↓ move, ←/→ change sides; focus and highlight move together
    var allTokens = ui.tokens[0].concat(ui.tokens[1]);
    roving(ui.view, allTokens, 0);
    ui.view.addEventListener("keydown", function (e) {
      var at = allTokens.indexOf(document.activeElement), half = ui.tokens[0].length;
      if (at < 0) return;
      var s = at < half ? 0 : 1, i = at % half, T = model().T;
      if (e.key === "Escape") { e.preventDefault(); set({ pin: null }); focus = { side: s, i: i }; hover(); return; }
      if (e.key !== "ArrowUp" && e.key !== "ArrowDown" && e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      var next = i, ns = s;
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") ns = e.key === "ArrowRight" ? 1 : 0;
      else do { next += e.key === "ArrowDown" ? 1 : -1; } while (next >= 0 && next < T && !visible(next));
      if (next < 0 || next >= T) return;
      ui.tokens[ns][next].focus();
    });
    [0, 1].forEach(function (s) {
      ui.tokens[s].forEach(function (b, i) {
        var enter = function () { if (!state.pin) { focus = { side: s, i: i }; hover(); } };
        var leave = function () { if (!state.pin && focus) { focus = null; hover(); } };
        b.addEventListener("mouseenter", enter);
        b.addEventListener("focus", enter);
        b.addEventListener("mouseleave", leave);
        b.addEventListener("blur", leave);
        b.addEventListener("click", function () {
          var same = state.pin && state.pin.side === s && state.pin.i === i;
          set({ pin: same ? null : { side: s, i: i } });
          if (same) { focus = { side: s, i: i }; hover(); }
        });
      });
    });
    draw();
    onView(get());
    return {
      select: function (layer, head, k) {
        var change = { mode: "heads", layer: layer, heads: [head] };
        if (k !== undefined && k !== null) change.model = k;
        if (state.lens === "contributions") change.lens = "weights";  // a head was asked for: show heads
        set(change);
      },
      reset: function () { set(start, { quiet: true }); },
      focusHead: function () {
        if (ui.toolbar.hidden) { ui.layer.focus(); return; }
        ui.squares[state.mode === "heads" ? state.heads[0] : 0].focus();
      },
      set: function (change) { set(change, { quiet: true }); },
      get: get,
      initial: function (k) { return initial(models[k], k); },
      root: root
    };
  }

  // ---- the address: #m=<slug>&l=3&h=5,7&t=6&hide=1&lens=value&f=AB (m, lens, f only when not the default)
  var KEYS = ["m", "l", "h", "t", "hide", "lens", "f"];
  function format(s, models) {
    var parts = [];
    if (s.model) parts.push("m=" + encodeURIComponent(models[s.model].slug));
    parts.push("l=" + (s.mode === "all" ? "all" : s.layer + 1),
               "h=" + (s.mode === "heads" ? s.heads.map(function (x) { return x + 1; }).join(",") : "mean"));
    if (s.pin) parts.push("t=" + s.pin.i + (s.pin.side ? "r" : ""));
    if (s.hide) parts.push("hide=1");
    if (s.lens !== DEFAULTS.lens) parts.push("lens=" + s.lens);
    if (s.filter !== DEFAULTS.filter) parts.push("f=" + s.filter);
    return "#" + parts.join("&");
  }
  // The whole view an address names, on top of `first(k)`, model k's first view (views[k] gives its shape);
  // null when the address names no view at all (no address, the skip link's #content, another page's anchor).
  function parse(hash, models, views, first) {
    var q = {}, any = false;
    hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var p = kv.split("=");
      if (p.length !== 2 || KEYS.indexOf(p[0]) < 0) return;
      try { q[p[0]] = decodeURIComponent(p[1]); any = true; } catch (e) { /* a malformed part names nothing */ }
    });
    if (!any) return null;
    var k = 0;
    models.forEach(function (m, n) { if (q.m !== undefined && m.slug === q.m) k = n; });
    var out = first(k), L = views[k].layers, H = views[k].heads, T = views[k].tokens.length;
    if (q.l === "all") out.mode = "all";
    else if (/^\d+$/.test(q.l || "") && +q.l >= 1 && +q.l <= L) out.layer = +q.l - 1;
    if (q.h === "mean") { if (out.mode !== "all") out.mode = "layer"; }
    else if (q.h) {
      var heads = q.h.split(",").filter(function (x) { return /^\d+$/.test(x) && +x >= 1 && +x <= H; })
        .map(function (x) { return +x - 1; });
      if (heads.length) { out.heads = heads; if (out.mode !== "all") out.mode = "heads"; }
    }
    var t = /^(\d+)(r?)$/.exec(q.t || "");
    out.pin = t && +t[1] < T ? { side: t[2] ? 1 : 0, i: +t[1] } : null;
    out.hide = q.hide === "1";
    if (LENSES.some(function (x) { return x[0] === q.lens; })) out.lens = q.lens;
    if (FILTERS.some(function (x) { return x[0] === q.f; })) out.filter = q.f;
    return out;
  }

  // ---- the sentence page: the view, the address bar, the overview, the lists and the statistics maps
  function page() {
    var section = document.getElementById("explore"), root = section && section.querySelector(".explorer");
    var views = window.bertGalleryViews || [], view = null, models = [];
    var grids = [];  // [links, heads per row, model or null]: marked when their head is the chosen one
    if (root && views.length) {
      models = JSON.parse(section.getAttribute("data-models") || "[]");
      views = views.slice(0, models.length || views.length);
      models = views.map(function (v, k) {
        return models[k] || { slug: String(k + 1), name: v.model, prefix: "", heads: null };
      });
      view = explorer(root, views, { models: models, onChange: function (s, replace) {
        var hash = format(s, models);
        if (hash !== location.hash) history[replace ? "replaceState" : "pushState"](null, "", hash);
      }, onView: mark });
      section.hidden = false;
      var restore = function (s) {  // the address's view; the address then says what is shown
        view.set(s);
        var hash = format(view.get(), models);
        if (hash !== location.hash) history.replaceState(null, "", hash);
      };
      var fromHash = parse(location.hash, models, views, view.initial);
      if (fromHash) {  // a shared link: open on its view
        restore(fromHash);
        section.scrollIntoView({ block: "start" });
      }
      window.addEventListener("popstate", function () {
        var s = parse(location.hash, models, views, view.initial);
        if (s) restore(s);
        else if (location.hash.replace("#", "") === "") view.reset();  // back to the page's own address
        // any other address (#content, the skip link's) names no view: the view stays
      });
      // the skip link, and any link to a place in the page, moves focus without taking the view out of the address
      document.querySelectorAll('a[href^="#"]').forEach(function (a) {
        var id = a.getAttribute("href").slice(1);
        if (!id || parse("#" + id, models, views, view.initial)) return;  // a view's address: chooses() has it
        a.addEventListener("click", function (e) {
          var target = document.getElementById(id);
          if (!target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
          e.preventDefault();
          if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
          target.focus();
          target.scrollIntoView({ block: "start" });
        });
      });
    }
    function modelOf(node) {  // a picture or map of one model's section chooses that model
      var owner = node.closest("[data-model]");
      if (!owner) return null;
      var k = models.map(function (m) { return m.slug; }).indexOf(owner.getAttribute("data-model"));
      return k < 0 ? null : k;
    }
    function show(layer, head, k, keyboard) {
      view.select(layer, head, k);
      var box = section.getBoundingClientRect();  // the overview sits beside the explorer: scroll only if it must
      if (box.top < 0 || box.top > window.innerHeight / 2) section.scrollIntoView({ block: "start" });
      if (keyboard) view.focusHead();  // focus goes where the page went
    }
    function chooses(a, layer, head) {  // a click on `a` opens that head in the explorer
      if (!view) return;  // the heads pages: the link goes to the head's own page
      a.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;  // the picture itself
        e.preventDefault();
        show(layer, head, modelOf(a), e.detail === 0);
      });
    }
    // the overview's tiles and every statistics map: one tab stop each, arrow keys inside, every cell named
    function grid(container, links, cols, name) {
      roving(container, links, cols);
      grids.push([links, cols, modelOf(container)]);
      links.forEach(function (a, k) {
        var layer = Math.floor(k / cols), head = k % cols;
        if (name) a.setAttribute("aria-label", name(layer, head));
        chooses(a, layer, head);
      });
    }
    function mark(s) {  // the chosen head (or the layer's heads, for its mean) marked in every grid
      document.querySelectorAll(".overviews [data-model]").forEach(function (figure) {  // the shown model's overview
        figure.hidden = modelOf(figure) !== s.model;
      });
      grids.forEach(function (g) {
        var mine = g[2] === null ? s.model === 0 || models.length < 2 : g[2] === s.model;
        g[0].forEach(function (a, k) {
          var layer = Math.floor(k / g[1]), head = k % g[1];
          var on = mine && s.lens !== "contributions" && s.mode !== "all" && layer === s.layer &&
                   (s.mode === "layer" || s.heads.indexOf(head) >= 0);
          a.classList.toggle("chosen", on);
          if (on) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
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
    // any other link that names a head (the heads that matter most for a mask) chooses it too
    document.querySelectorAll("a[data-layer][data-head]").forEach(function (a) {
      chooses(a, +a.getAttribute("data-layer") - 1, +a.getAttribute("data-head") - 1);
    });
    if (view) mark(view.get());
  }

  window.BertGallery = { explorer: explorer, address: { format: format, parse: parse } };
  page();
})();
