// The "Try your own sentence" page (live/index.html): the reader's sentence through the model in the browser
// (live.js), shown as a sentence page shows its own: a ranked table per [MASK], the filled-in sentence and the
// explorer (attention.js) over every layer and head, with the value-weighted lens (live.js computes the value
// norms) and, for a pair, the segment filter. The address holds the sentence and the view, so a reader can share
// both: #s=<sentence>&p=<second sentence>&l=3&h=5,7&... (the explorer's keys, docs/explorer.md). Works from
// file:// and under any sub-path: every file is named relative to the page.
(function () {
  "use strict";
  var section = document.getElementById("live");
  if (!section || !window.bertGalleryLive || !window.BertGallery) return;
  var settings = JSON.parse(section.getAttribute("data-live"));
  var live = window.bertGalleryLive, address = window.BertGallery.address;
  var form = document.getElementById("live-form"), text = document.getElementById("live-text");
  var pair = document.getElementById("live-pair"), status = document.getElementById("live-status");
  var error = document.getElementById("live-error"), predictions = document.getElementById("live-predictions");
  var explore = document.getElementById("live-explore");
  var models = [{ slug: "", name: settings.model, prefix: "", heads: settings.heads }];
  var loading = null, runs = 0, shown = null;  // shown: the sentence whose results are on the page
  var page = window.bertGalleryTry = { explorer: null, sentence: null };

  function el(tag, attrs, content) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (content !== undefined) e.textContent = content;
    return e;
  }
  function say(message) { status.textContent = message; }
  function megabytes(n) { return (n / 1e6).toFixed(1) + " MB"; }
  function percent(p) {  // as site.percent: 42.1%, 0.37%, <0.01%
    if (p >= 0.01) return (p * 100).toFixed(1) + "%";
    return p >= 0.0001 ? (p * 100).toFixed(2) + "%" : "<0.01%";
  }

  // What the reader reads for each of live.js's error codes (docs/live.md): its message is already a sentence
  // about their text; loading and internal failures say what to do.
  function fail(e) {
    var code = e && e.code, message = (e && e.message) || String(e);
    if (code === "load") message = "The model could not be loaded. " + message + " The page reads its model from " +
      "the files beside it (live/" + "model.js and live/weights-*.js), as the gallery's build wrote them.";
    else if (code === "internal") message += " Reload the page to try again.";
    else if (code === "not-loaded") message = "The model is not loaded yet: wait a moment and press Enter again.";
    error.textContent = message;
    error.hidden = false;
    say("");
  }

  function load() {  // once; again after a failure
    if (loading) return loading;
    say("Loading the model into your browser…");
    var start = Date.now();
    loading = live.load({ base: settings.base, onProgress: function (done, total) {
      say("Loading the model into your browser: " + done + " of " + total + " weight files…");
    } }).then(function (info) {
      say("The model is ready (" + ((Date.now() - start) / 1000).toFixed(1) + " s): write a sentence with [MASK] " +
          "and press Enter. It reads at most " + info.maxTokens + " tokens.");
      return info;
    }, function (e) {
      loading = null;
      throw e;
    });
    return loading;
  }

  // ---- the address: the sentence (s, p) before the explorer's keys
  function encode(value) {  // readable where it can be: spaces as +, the brackets of [MASK] as they are
    return encodeURIComponent(value).replace(/%20/g, "+").replace(/%5B/g, "[").replace(/%5D/g, "]");
  }
  function sentenceOf(hash) {  // {text, pair} of an address, or null when it names no sentence
    var found = {};
    hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var at = kv.indexOf("="), key = kv.slice(0, at);
      if (at < 0 || (key !== "s" && key !== "p")) return;
      try { found[key] = decodeURIComponent(kv.slice(at + 1).replace(/\+/g, " ")); } catch (e) { /* names nothing */ }
    });
    return found.s === undefined ? null : { text: found.s, pair: found.p || null };
  }
  function addressOf(sentence, state) {
    return "#s=" + encode(sentence.text) + (sentence.pair ? "&p=" + encode(sentence.pair) : "") + "&" +
      address.format(state, models).slice(1);
  }
  function write(how) {  // how: "push" (a change the reader made) or "replace"
    if (!shown || !page.explorer) return;
    var hash = addressOf(shown, page.explorer.get());
    if (hash !== location.hash) history[how === "push" ? "pushState" : "replaceState"](null, "", hash);
  }

  // ---- the results, drawn as the sentence pages draw theirs
  function ranking(mask, k, count) {
    var table = el("table", { "class": "ranking" }), caption = table.appendChild(el("caption"));
    var title = count > 1 ? "Mask " + (k + 1) + " of " + count + " " : "The masked word ";
    caption.appendChild(document.createTextNode(title));
    caption.appendChild(el("small", {}, "(token " + mask.index + "; bars relative to the top guess)"));
    var head = table.appendChild(el("thead")).appendChild(el("tr"));
    ["Rank", "Token", "Probability"].forEach(function (name) { head.appendChild(el("th", { scope: "col" }, name)); });
    var body = table.appendChild(el("tbody")), top = mask.predictions[0].probability || 1;
    mask.predictions.forEach(function (p, rank) {
      var row = body.appendChild(el("tr"));
      row.appendChild(el("td", {}, String(rank + 1)));
      row.appendChild(el("td", { "class": "token" }, p.token));
      var cell = row.appendChild(el("td", { "class": "prob" }));
      cell.appendChild(el("span", { "class": "bar", style: "width: " + (100 * p.probability / top).toFixed(1) + "%" }));
      cell.appendChild(el("span", { "class": "pct" }, percent(p.probability)));
    });
    var block = el("div", { "class": "mask-block" });
    block.appendChild(table);
    return block;
  }
  // as model.fill: each [MASK] its top guess; a word piece (##s) joins the word before
  function filled(sentence, masks) {
    var parts = sentence.split(live.info.maskToken), out = parts[0];
    masks.forEach(function (m, k) {
      var best = m.predictions[0].token;
      if (best.slice(0, 2) === "##") { out = out.replace(/\s+$/, ""); best = best.slice(2); }
      out += best + (parts[k + 1] === undefined ? "" : parts[k + 1]);
    });
    return out;
  }
  // The head the explorer opens on: the one whose attention from the first mask falls most on one other word
  // (not [CLS]/[SEP], not the mask itself); the sentence pages open on the head that matters most for the mask,
  // which needs Python.
  function firstHead(r) {
    var T = r.ids.length, i = r.masks[0].index, a = r.attentionData, best = -1, at = [1, 1], skip = {};
    r.special.concat([i]).forEach(function (j) { skip[j] = true; });
    for (var l = 0; l < r.layers; l++) for (var h = 0; h < r.heads; h++) {
      var base = ((l * r.heads + h) * T + i) * T;
      for (var j = 0; j < T; j++) if (!skip[j] && a[base + j] > best) { best = a[base + j]; at = [l + 1, h + 1]; }
    }
    return at;
  }
  function view(r) {  // the explorer's data contract (docs/explorer.md), its weights as the worker's Float32Arrays
    var tags = [];
    for (var k = 0; k < r.layers * r.heads; k++) tags.push([]);
    return { model: settings.model, tokens: r.tokens, layers: r.layers, heads: r.heads, special: r.special,
             segments: r.pair ? r.tokenTypes : null, attention: r.attentionData, scale: 10000, norms: r.normsData,
             contributions: null, colors: settings.colors, light: settings.light, names: settings.names, tags: tags,
             headColours: settings.headColours, "default": firstHead(r) };
  }
  function show(sentence, r, hash) {
    var box = predictions.querySelector(".masks");
    box.textContent = "";
    r.masks.forEach(function (m, k) { box.appendChild(ranking(m, k, r.masks.length)); });
    predictions.querySelector(".filled-text").textContent = filled(sentence.text, r.masks);
    predictions.hidden = false;
    explore.hidden = false;
    var v = view(r);
    page.explorer = window.BertGallery.explorer(explore.querySelector(".explorer"), [v], {
      models: models, onChange: function (s, replace) { write(replace ? "replace" : "push"); } });
    var state = hash && address.parse(hash, models, [v], page.explorer.initial);
    if (state) page.explorer.set(state);
    shown = page.sentence = sentence;
  }

  // The sentence through the model; `hash` is the view to open on (an address's), `how` the history entry
  // it makes ("push" for the reader's new sentence, "replace" for one the address named).
  function run(sentence, hash, how) {
    var ticket = ++runs;
    error.hidden = true;
    return load().then(function () {
      say("Running the model on your sentence…");
      return live.run(sentence.text, sentence.pair, { topK: settings.topK });
    }).then(function (r) {
      if (ticket !== runs) return;  // a later sentence is on its way
      show(sentence, r, hash);
      write(how);
      say(r.ids.length + " tokens, " + Math.max(1, Math.round(r.ms)) + " ms in your browser.");
    }, function (e) {
      if (ticket !== runs) return;
      predictions.hidden = explore.hidden = true;
      shown = null;
      fail(e);
    });
  }

  function same(a, b) { return !!a && !!b && a.text === b.text && (a.pair || null) === (b.pair || null); }
  function fromAddress(how) {  // the sentence and the view the address names
    var sentence = sentenceOf(location.hash);
    if (!sentence) return;
    text.value = sentence.text;
    pair.value = sentence.pair || "";
    if (same(sentence, shown)) {
      var state = address.parse(location.hash, models, [view(live.last)], page.explorer.initial);
      if (state) page.explorer.set(state);
    } else run(sentence, location.hash, how);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var sentence = { text: text.value, pair: pair.value === "" ? null : pair.value };
    if (same(sentence, shown)) { write("push"); return; }
    run(sentence, "", "push");
  });
  document.getElementById("live-mask").addEventListener("click", function () {
    var at = text.selectionStart === null ? text.value.length : text.selectionStart;
    var end = text.selectionEnd === null ? at : text.selectionEnd;
    text.setRangeText(live.info ? live.info.maskToken : "[MASK]", at, end, "end");
    text.focus();
  });
  window.addEventListener("popstate", function () { fromAddress("replace"); });

  document.querySelectorAll(".live-example").forEach(function (b) {  // an example: both fields, and its run
    b.addEventListener("click", function () {
      text.value = b.getAttribute("data-text");
      pair.value = b.getAttribute("data-pair");
      form.requestSubmit();
    });
  });

  text.value = settings.example[0];
  pair.value = settings.example[1];
  load().catch(fail);
  fromAddress("replace");
})();
