// Live mode: the gallery's masked LM in the reader's browser, with no server and no network. Plain JavaScript.
// The model's files (bertgallery/live.py writes them) come in through <script src>, which Chromium allows from
// file:// where it blocks fetch(); each assigns its data into window.bertGalleryLiveData under its own address.
// The tokenizer and the forward pass run in a Web Worker made from a Blob (Chromium blocks new Worker(url) from
// file://), so the page never hangs. The public face (docs/live.md):
//   bertGalleryLive.load({base, onProgress}) -> Promise<info>   fetches the files under `base` (default "live/")
//   bertGalleryLive.run(text, pair, {topK})  -> Promise<result>  rejects with an Error whose message is for the page
//   bertGalleryLive.tokenize(text, pair)     -> Promise<{ids, tokens, tokenTypes}>
//   bertGalleryLive.last                        the latest result
(function () {
  "use strict";
  var REGISTRY = "bertGalleryLiveData", MANIFEST = "model.js";  // live.py's REGISTRY and MANIFEST

  // ---- Everything in workerMain runs in the worker: its source text becomes the worker's script. ----
  function workerMain() {
    "use strict";
    var MAX_CHARS = 65536;  // the most text run() reads: far past any model's token limit, still quick
    var manifest = null, bytes = null, partsLeft = 0, readyId = null, model = null, tokenizer = null;
    var timings = { decode: 0, build: 0 };

    function LiveError(code, message) {
      this.code = code;
      this.message = message;
    }

    function thousands(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

    // -- the weights: each part's text (7 bits a character, live.py's text7) into one buffer, then one typed
    // array per tensor --
    function decodePart(part, text) {
      var at = part.offset, end = part.offset + part.bytes, n = text.length, i = 0, g0, g1, g2, g3, g4, g5, g6, g7;
      // eight characters are seven bytes; & 127 undoes an escape (U+0080 + value)
      for (; i + 8 <= n && at + 7 <= end; i += 8, at += 7) {
        g0 = text.charCodeAt(i) & 127; g1 = text.charCodeAt(i + 1) & 127; g2 = text.charCodeAt(i + 2) & 127;
        g3 = text.charCodeAt(i + 3) & 127; g4 = text.charCodeAt(i + 4) & 127; g5 = text.charCodeAt(i + 5) & 127;
        g6 = text.charCodeAt(i + 6) & 127; g7 = text.charCodeAt(i + 7) & 127;
        bytes[at] = g0 | (g1 << 7);
        bytes[at + 1] = (g1 >> 1) | (g2 << 6);
        bytes[at + 2] = (g2 >> 2) | (g3 << 5);
        bytes[at + 3] = (g3 >> 3) | (g4 << 4);
        bytes[at + 4] = (g4 >> 4) | (g5 << 3);
        bytes[at + 5] = (g5 >> 5) | (g6 << 2);
        bytes[at + 6] = (g6 >> 6) | (g7 << 1);
      }
      for (var acc = 0, nb = 0; i < n && at < end; i++) {  // the last few
        acc |= (text.charCodeAt(i) & 127) << nb;
        nb += 7;
        if (nb >= 8) {
          bytes[at++] = acc & 255;
          acc >>>= 8;
          nb -= 8;
        }
      }
      if (at !== end) throw new LiveError("load", part.file + " is cut short: export the model again.");
    }

    var HALF = null;
    function halfToFloat(h) {
      var e = (h >> 10) & 31, m = h & 1023, s = h & 32768 ? -1 : 1;
      if (e === 0) return s * m * Math.pow(2, -24);
      if (e === 31) return m ? NaN : s * Infinity;
      return s * (1 + m / 1024) * Math.pow(2, e - 15);
    }

    // signed integers from a little-endian bit stream: 12 bits are two values in three bytes, 10 bits four in
    // five, 8 bits one a byte; any other width bit by bit
    function unpack(offset, count, bits, out) {
      var p = offset, i = 0, b0, b1, b2, b3, b4;
      if (bits === 12) {
        for (; i + 2 <= count; i += 2, p += 3) {
          b0 = bytes[p]; b1 = bytes[p + 1]; b2 = bytes[p + 2];
          out[i] = ((b0 | (b1 << 8)) << 20) >> 20;
          out[i + 1] = (((b1 >> 4) | (b2 << 4)) << 20) >> 20;
        }
      } else if (bits === 10) {
        for (; i + 4 <= count; i += 4, p += 5) {
          b0 = bytes[p]; b1 = bytes[p + 1]; b2 = bytes[p + 2]; b3 = bytes[p + 3]; b4 = bytes[p + 4];
          out[i] = ((b0 | (b1 << 8)) << 22) >> 22;
          out[i + 1] = (((b1 >> 2) | (b2 << 6)) << 22) >> 22;
          out[i + 2] = (((b2 >> 4) | (b3 << 4)) << 22) >> 22;
          out[i + 3] = (((b3 >> 6) | (b4 << 2)) << 22) >> 22;
        }
      } else if (bits === 8) {
        for (; i < count; i++) out[i] = (bytes[p + i] << 24) >> 24;
      }
      for (var at = p * 8; i < count; i++, at += bits) {  // the rest (or every value of another width)
        var v = 0;
        for (var k = 0; k < bits; k++) v |= ((bytes[(at + k) >> 3] >> ((at + k) & 7)) & 1) << k;
        out[i] = (v << (32 - bits)) >> (32 - bits);
      }
      return out;
    }

    // A tensor as {rows, cols, data: Float32Array}, or, for the vocabulary-sized matrices stored as integers,
    // {rows, cols, q: Int16Array, rowScale, colScale}: they are read a row at a time, so they stay integers
    // (half the memory); every other matrix is dequantised once, here.
    function tensor(entry, keepIntegers) {
      var shape = entry.shape, rows = shape[0], cols = shape.length > 1 ? shape[1] : 1, n = rows * cols;
      var buf = bytes.buffer, out = { rows: rows, cols: cols };
      if (entry.dtype === "float32") {
        out.data = new Float32Array(buf, entry.offset, n).slice();
      } else if (entry.dtype === "float16") {
        if (!HALF) {
          HALF = new Float32Array(65536);
          for (var h = 0; h < 65536; h++) HALF[h] = halfToFloat(h);
        }
        var u = new Uint16Array(buf, entry.offset, n), f = new Float32Array(n);
        for (var i = 0; i < n; i++) f[i] = HALF[u[i]];
        out.data = f;
      } else {
        var rs = new Float32Array(buf, entry.rows, rows).slice(), cs = new Float32Array(buf, entry.cols, cols).slice();
        if (keepIntegers) {
          out.q = unpack(entry.offset, n, entry.bits, new Int16Array(n));
          out.rowScale = rs;
          out.colScale = cs;
        } else {  // a row at a time when rows start on whole bytes (even widths: every BERT), else all at once
          var d = new Float32Array(n), rowBytes = cols * entry.bits / 8, whole = rowBytes % 1 === 0;
          var q = whole ? new Int16Array(cols) : unpack(entry.offset, n, entry.bits, new Int16Array(n));
          for (var r = 0; r < rows; r++) {
            var s = rs[r], base = r * cols, at = whole ? 0 : base;
            if (whole) unpack(entry.offset + r * rowBytes, cols, entry.bits, q);
            for (var c = 0; c < cols; c++) d[base + c] = q[at + c] * s * cs[c];
          }
          out.data = d;
        }
      }
      return out;
    }

    // G_h = W_O[:,h]^T W_O[:,h] for each head h: [heads x dh x dh], so that a value vector's norm through the
    // output projection costs dh^2, not hidden * dh
    function gram(O, H) {
      var D = O.rows, cols = O.cols, dh = cols / H, w = O.data, G = new Float64Array(H * dh * dh);
      var t = new Float64Array(dh * D);  // one head's columns of W_O, each made a contiguous row
      for (var h = 0; h < H; h++) {
        for (var r = 0; r < D; r++) for (var a = 0; a < dh; a++) t[a * D + r] = w[r * cols + h * dh + a];
        for (var i = 0; i < dh; i++) {
          for (var k = i; k < dh; k++) {
            var s = 0, ti = i * D, tk = k * D;
            for (var x = 0; x < D; x++) s += t[ti + x] * t[tk + x];
            G[h * dh * dh + i * dh + k] = G[h * dh * dh + k * dh + i] = s;
          }
        }
      }
      return G;
    }

    // Each tensor is made as soon as the parts holding its bytes are in, while the page is still reading the
    // later <script> files.
    var arrived = [], built = {}, pendingTensors = [];
    function buildReady() {
      var parts = manifest.parts;
      pendingTensors = pendingTensors.filter(function (entry) {
        for (var i = 0; i < parts.length; i++) {
          var p = parts[i];
          if (!arrived[i] && p.offset < entry.end && p.offset + p.bytes > entry.offset) return true;
        }
        var t = built[entry.name] = tensor(entry, entry.name === "embed.word" || entry.name === "head.decoder");
        if (/^layer\d+\.o\.weight$/.test(entry.name)) t.gram = gram(t, manifest.config.heads);
        return false;
      });
    }

    function build() {
      bytes = null;
      model = { cfg: manifest.config, W: built, tok: tokenizer, decoder: built["head.decoder"] || built["embed.word"] };
    }

    // -- the tokenizer: the Python (fast) tokenizer's BertNormalizer, BertPreTokenizer, WordPiece and template,
    // with the character classes that tokenizer itself gave each code point (live.py), so the browser's own
    // Unicode tables play no part --
    function inRanges(ranges, c) {
      var lo = 0, hi = (ranges.length >> 1) - 1;
      while (lo <= hi) {
        var mid = (lo + hi) >> 1;
        if (c < ranges[2 * mid]) hi = mid - 1;
        else if (c > ranges[2 * mid + 1]) lo = mid + 1;
        else return true;
      }
      return false;
    }

    function makeTokenizer(spec, vocab) {
      var ids = new Map(), chars = spec.chars, normal = new Map(), kind = new Map();
      vocab.forEach(function (w, i) { ids.set(w, i); });
      var added = spec.added.slice().sort(function (a, b) { return b.content.length - a.content.length; });
      var longest = 0;  // in code points: no piece longer can be in the vocabulary
      vocab.forEach(function (w) { var n = Array.from(w).length; if (n > longest) longest = n; });

      function hangul(c) {  // Unicode's algorithmic decomposition of a Hangul syllable
        var s = c - 0xAC00, t = s % 28;
        return String.fromCharCode(0x1100 + Math.floor(s / 588), 0x1161 + Math.floor((s % 588) / 28)) +
          (t ? String.fromCharCode(0x11A7 + t) : "");
      }
      function normalise(c, ch) {  // one code point as the normaliser writes it
        var out = normal.get(c);
        if (out !== undefined) return out;
        if (inRanges(chars.drop, c)) out = "";
        else if (inRanges(chars.pad, c)) out = " " + ch + " ";
        else if (Object.prototype.hasOwnProperty.call(chars.map, c)) out = chars.map[c];
        else if (chars.hangul && c >= 0xAC00 && c <= 0xD7A3) out = hangul(c);
        else out = ch;
        normal.set(c, out);
        return out;
      }
      function classOf(c) {  // 0 part of a word, 1 whitespace (splits), 2 punctuation (a word of its own)
        var k = kind.get(c);
        if (k === undefined) {
          k = inRanges(chars.space, c) ? 1 : inRanges(chars.punct, c) ? 2 : 0;
          kind.set(c, k);
        }
        return k;
      }
      function wordpiece(word, out) {
        var cs = Array.from(word);
        if (cs.length > spec.maxWordChars) { out.push(ids.get(spec.unk)); return; }
        var pieces = [], start = 0;
        while (start < cs.length) {
          var end = Math.min(cs.length, start + longest), found = -1;
          while (end > start) {
            var sub = (start > 0 ? spec.prefix : "") + cs.slice(start, end).join("");
            var id = ids.get(sub);
            if (id !== undefined) { found = id; break; }
            end--;
          }
          if (found < 0) { out.push(ids.get(spec.unk)); return; }
          pieces.push(found);
          start = end;
        }
        for (var i = 0; i < pieces.length; i++) out.push(pieces[i]);
      }
      function plain(text, out) {  // text with no added token in it: normalise, split, WordPiece
        var norm = "";
        for (var ch of text) norm += normalise(ch.codePointAt(0), ch);
        var word = "";
        for (var c2 of norm) {
          var k = classOf(c2.codePointAt(0));
          if (k === 0) { word += c2; continue; }
          if (word) wordpiece(word, out);
          word = "";
          if (k === 2) wordpiece(c2, out);
        }
        if (word) wordpiece(word, out);
      }
      function encodeOne(text) {  // added tokens ([MASK], [CLS], ...) are matched first, on the raw text
        var out = [], at = 0, next = added.map(function (a) { return text.indexOf(a.content); });
        while (at < text.length) {
          var best = -1, which = -1;
          for (var i = 0; i < added.length; i++) {
            if (next[i] >= 0 && next[i] < at) next[i] = text.indexOf(added[i].content, at);  // each found once
            if (next[i] >= 0 && (best < 0 || next[i] < best)) { best = next[i]; which = i; }
          }
          if (best < 0) { plain(text.slice(at), out); break; }
          plain(text.slice(at, best), out);
          out.push(added[which].id);
          at = best + added[which].content.length;
        }
        return out;
      }
      function encode(text, pair) {
        var a = encodeOne(text), ids2 = [spec.cls].concat(a, [spec.sep]), types = ids2.map(function () { return 0; });
        if (pair !== null) {
          var b = encodeOne(pair);
          ids2 = ids2.concat(b, [spec.sep]);
          types = types.concat(b.map(function () { return 1; }), [1]);
        }
        return { ids: ids2, tokenTypes: types, tokens: ids2.map(function (i) { return vocab[i]; }) };
      }
      return { encode: encode, spec: spec };
    }

    function checkText(text, name) {  // a lone surrogate: the Python tokenizer cannot take it either
      for (var i = 0; i < text.length; i++) {
        var u = text.charCodeAt(i);
        if (u >= 0xD800 && u <= 0xDBFF) {
          var next = text.charCodeAt(i + 1);
          if (next >= 0xDC00 && next <= 0xDFFF) { i++; continue; }
        }
        if (u >= 0xD800 && u <= 0xDFFF)
          throw new LiveError("bad-text", "The " + name + " holds a broken character at position " + (i + 1) +
                              " (half of a UTF-16 surrogate pair): delete it and try again.");
      }
    }

    function tokenize(text, pair) {
      if (pair === undefined || pair === "") pair = null;
      if (typeof text !== "string") throw new LiveError("bad-text", "The text must be text.");
      if (pair !== null && typeof pair !== "string") throw new LiveError("bad-text", "The second sentence must be text.");
      var chars = text.length + (pair === null ? 0 : pair.length);
      if (chars > MAX_CHARS)
        throw new LiveError("too-long", "The text is " + thousands(chars) + " characters long; live mode reads at most " +
                            thousands(MAX_CHARS) + ".");
      checkText(text, "text");
      if (pair !== null) checkText(pair, "second sentence");
      return model.tok.encode(text, pair);
    }

    // -- the forward pass, in float64 over float32 weights --
    var TWO_SQRTPI = 2 / Math.sqrt(Math.PI);
    function erf(x) {
      var a = Math.abs(x), r;
      if (a < 3) {  // 2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1) / (1*3*...*(2n+1)): positive terms, no cancellation
        var x2 = a * a, term = a, sum = a;
        for (var n = 1; term > 1e-17 * sum; n++) {
          term *= 2 * x2 / (2 * n + 1);
          sum += term;
        }
        r = TWO_SQRTPI * Math.exp(-x2) * sum;
      } else {  // 1 - erfc, erfc by its continued fraction (erfc(3) is 2e-5: depth 40 is plenty)
        var f = a;
        for (var k = 40; k >= 1; k--) f = a + (k / 2) / f;
        r = 1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * f);
      }
      return x < 0 ? -r : r;
    }
    var ACTIVATIONS = {
      gelu: function (x) { return 0.5 * x * (1 + erf(x * Math.SQRT1_2)); },
      gelu_tanh: function (x) { return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); },
      relu: function (x) { return x > 0 ? x : 0; }
    };

    // Y[T x m] = X[T x n] W^T + b, W[m x n] as PyTorch keeps it: each output a dot product of two contiguous
    // rows, in blocks of two outputs by four tokens, so each weight is read once per four tokens and each input
    // once per two outputs (about twice as fast as one output at a time; docs/live.md).
    function linear(X, T, n, W, b) {
      var m = W.rows, w = W.data, bias = b.data, Y = new Float64Array(T * m), o = 0, t, i;
      for (; o + 2 <= m; o += 2) {
        var wa = o * n, wb = wa + n, ba = bias[o], bb = bias[o + 1];
        for (t = 0; t + 4 <= T; t += 4) {
          var x0 = t * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
          var a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
          for (i = 0; i < n; i++) {
            var u = w[wa + i], v = w[wb + i], p0 = X[x0 + i], p1 = X[x1 + i], p2 = X[x2 + i], p3 = X[x3 + i];
            a0 += p0 * u; a1 += p1 * u; a2 += p2 * u; a3 += p3 * u;
            b0 += p0 * v; b1 += p1 * v; b2 += p2 * v; b3 += p3 * v;
          }
          var y = t * m + o;
          Y[y] = a0 + ba; Y[y + 1] = b0 + bb; y += m;
          Y[y] = a1 + ba; Y[y + 1] = b1 + bb; y += m;
          Y[y] = a2 + ba; Y[y + 1] = b2 + bb; y += m;
          Y[y] = a3 + ba; Y[y + 1] = b3 + bb;
        }
        for (; t < T; t++) {
          var xt = t * n, sa = 0, sb = 0;
          for (i = 0; i < n; i++) { var pt = X[xt + i]; sa += pt * w[wa + i]; sb += pt * w[wb + i]; }
          Y[t * m + o] = sa + ba;
          Y[t * m + o + 1] = sb + bb;
        }
      }
      for (; o < m; o++) {
        for (t = 0; t < T; t++) {
          var s = 0;
          for (i = 0; i < n; i++) s += X[t * n + i] * w[o * n + i];
          Y[t * m + o] = s + bias[o];
        }
      }
      return Y;
    }

    function layerNorm(X, T, D, weight, bias, eps) {  // in place, over each row
      var g = weight.data, b = bias.data;
      for (var t = 0; t < T; t++) {
        var at = t * D, mean = 0, v = 0, i;
        for (i = 0; i < D; i++) mean += X[at + i];
        mean /= D;
        for (i = 0; i < D; i++) { var d = X[at + i] - mean; v += d * d; }
        var inv = 1 / Math.sqrt(v / D + eps);
        for (i = 0; i < D; i++) X[at + i] = (X[at + i] - mean) * inv * g[i] + b[i];
      }
    }

    function addRow(M, r, out, at) {  // out[at..] += row r of M
      var c = M.cols, base = r * c, i;
      if (M.q) { var s = M.rowScale[r], cs = M.colScale; for (i = 0; i < c; i++) out[at + i] += M.q[base + i] * s * cs[i]; }
      else for (i = 0; i < c; i++) out[at + i] += M.data[base + i];
    }

    function forward(ids, types, topK) {
      var cfg = model.cfg, W = model.W, T = ids.length, D = cfg.hidden, H = cfg.heads, L = cfg.layers, dh = D / H;
      var scale = 1 / Math.sqrt(dh), act = ACTIVATIONS[cfg.activation];
      var X = new Float64Array(T * D);
      for (var t = 0; t < T; t++) {
        addRow(W["embed.word"], ids[t], X, t * D);
        addRow(W["embed.position"], t, X, t * D);
        if (cfg.types) addRow(W["embed.type"], types[t], X, t * D);
      }
      layerNorm(X, T, D, W["embed.norm.weight"], W["embed.norm.bias"], cfg.eps);
      var attention = new Float32Array(L * H * T * T), norms = new Float32Array(L * H * T), row = new Float64Array(T);
      for (var l = 0; l < L; l++) {
        var p = "layer" + l + ".";
        var Q = linear(X, T, D, W[p + "q.weight"], W[p + "q.bias"]), K = linear(X, T, D, W[p + "k.weight"], W[p + "k.bias"]);
        var V = linear(X, T, D, W[p + "v.weight"], W[p + "v.bias"]), C = new Float64Array(T * D);
        for (var h = 0; h < H; h++) {
          var hd = h * dh, base = (l * H + h) * T * T;
          for (var i = 0; i < T; i++) {
            var qi = i * D + hd, max = -Infinity, j, e;
            for (j = 0; j < T; j++) {
              var kj = j * D + hd, s = 0;
              for (e = 0; e < dh; e++) s += Q[qi + e] * K[kj + e];
              row[j] = s * scale;
              if (row[j] > max) max = row[j];
            }
            var sum = 0;
            for (j = 0; j < T; j++) { row[j] = Math.exp(row[j] - max); sum += row[j]; }
            for (j = 0; j < T; j++) { row[j] /= sum; attention[base + i * T + j] = row[j]; }
            for (e = 0; e < dh; e++) {
              var c = 0;
              for (j = 0; j < T; j++) c += row[j] * V[j * D + hd + e];
              C[i * D + hd + e] = c;
            }
          }
        }
        // each head's value vectors through its slice of the output projection, ||W_O[:,h] (W_V[h] x_j + b_V[h])||,
        // as sqrt(v^T G_h v) with G_h = W_O[:,h]^T W_O[:,h] (gram(), once at load)
        var G = W[p + "o.weight"].gram, dd = dh * dh;
        for (var h2 = 0; h2 < H; h2++) {
          for (var j2 = 0; j2 < T; j2++) {
            var vj = j2 * D + h2 * dh, gh = h2 * dd, sq = 0;
            for (var a = 0; a < dh; a++) {
              var f = 0, ga = gh + a * dh;
              for (var e2 = 0; e2 < dh; e2++) f += G[ga + e2] * V[vj + e2];
              sq += V[vj + a] * f;
            }
            norms[(l * H + h2) * T + j2] = Math.sqrt(Math.max(0, sq));
          }
        }
        var A = linear(C, T, D, W[p + "o.weight"], W[p + "o.bias"]);
        for (var k = 0; k < T * D; k++) A[k] += X[k];
        layerNorm(A, T, D, W[p + "norm1.weight"], W[p + "norm1.bias"], cfg.eps);
        var F = linear(A, T, D, W[p + "ff1.weight"], W[p + "ff1.bias"]);
        for (k = 0; k < F.length; k++) F[k] = act(F[k]);
        X = linear(F, T, cfg.intermediate, W[p + "ff2.weight"], W[p + "ff2.bias"]);
        for (k = 0; k < T * D; k++) X[k] += A[k];
        layerNorm(X, T, D, W[p + "norm2.weight"], W[p + "norm2.bias"], cfg.eps);
      }
      var masks = [];
      for (var m = 0; m < T; m++) if (ids[m] === model.tok.spec.mask) masks.push({ index: m, predictions: predict(X.subarray(m * D, (m + 1) * D), topK) });
      return { attention: attention, norms: norms, masks: masks };
    }

    function predict(x, topK) {  // the masked-LM head at one position: transform, activation, LayerNorm, decoder
      var cfg = model.cfg, W = model.W, D = cfg.hidden, act = ACTIVATIONS[cfg.activation];
      var h = linear(x, 1, D, W["head.dense.weight"], W["head.dense.bias"]);
      for (var i = 0; i < D; i++) h[i] = act(h[i]);
      layerNorm(h, 1, D, W["head.norm.weight"], W["head.norm.bias"], cfg.eps);
      var E = model.decoder, bias = W["head.bias"].data, n = E.rows, logits = new Float64Array(n), max = -Infinity, v, j;
      var rows = E.q || E.data, x = h;
      if (E.q) {  // the column scales folded into h once, not into every row
        x = new Float64Array(D);
        for (j = 0; j < D; j++) x[j] = h[j] * E.colScale[j];
      }
      for (v = 0; v + 2 <= n; v += 2) {  // two rows at a time: each x[j] read once for both
        var b0 = v * D, b1 = b0 + D, s0 = 0, s1 = 0;
        for (j = 0; j < D; j++) { var xj = x[j]; s0 += rows[b0 + j] * xj; s1 += rows[b1 + j] * xj; }
        logits[v] = (E.q ? s0 * E.rowScale[v] : s0) + bias[v];
        logits[v + 1] = (E.q ? s1 * E.rowScale[v + 1] : s1) + bias[v + 1];
      }
      for (; v < n; v++) {
        var s2 = 0;
        for (j = 0; j < D; j++) s2 += rows[v * D + j] * x[j];
        logits[v] = (E.q ? s2 * E.rowScale[v] : s2) + bias[v];
      }
      for (v = 0; v < n; v++) if (logits[v] > max) max = logits[v];
      var sum = 0;
      for (v = 0; v < n; v++) sum += Math.exp(logits[v] - max);
      var best = [];  // the topK largest, largest first
      for (v = 0; v < n; v++) {
        if (best.length === topK && logits[v] <= logits[best[topK - 1]]) continue;
        if (best.length < topK) best.push(v);
        else best[topK - 1] = v;
        for (var a = best.length - 1; a > 0 && logits[best[a - 1]] < logits[best[a]]; a--) {
          var swap = best[a]; best[a] = best[a - 1]; best[a - 1] = swap;
        }
      }
      var vocab = manifest.vocab;
      return best.map(function (id) { return { token: vocab[id], id: id, probability: Math.exp(logits[id] - max) / sum }; });
    }

    // A special token written in a segment ([SEP], [CLS], [PAD]: spec.refused, those the build refuses, from
    // live.py) would be read as that token: a sequence the model was never trained on. The build's one line, for
    // the page's fields. The framing is skipped: [CLS] first, and each segment's last token, its [SEP].
    function typedSpecial(enc) {
      var ids = enc.ids, types = enc.tokenTypes, spec = model.tok.spec, isPair = types[types.length - 1] === 1;
      for (var i = 1; i < ids.length - 1; i++) {
        if (types[i + 1] !== types[i] || spec.refused.indexOf(ids[i]) < 0) continue;
        var said = (types[i] ? "The second sentence" : "The text") + " holds " + vocabOf(ids[i]) + ", ";
        if (ids[i] !== spec.sep)
          throw new LiveError("special", said + "one of the model's special tokens, which its tokenizer places " +
                              "itself: write the sentence without it.");
        throw new LiveError("special", said + "which the model's tokenizer places itself between two segments: " +
                            (isPair ? "a pair has two, the text and the second sentence." :
                             "give the second segment in the second field (Second sentence)."));
      }
    }

    function run(text, pair, topK) {
      var start = performance.now(), spec = model.tok.spec, enc = tokenize(text, pair);
      typedSpecial(enc);
      if (enc.ids.indexOf(spec.mask) < 0)
        throw new LiveError("no-mask", "There is no " + spec.maskToken + " in the text: write " + spec.maskToken +
                            " where the model should guess a word.");
      if (enc.ids.length > spec.maxTokens)
        throw new LiveError("too-long", "The text is " + thousands(enc.ids.length) + " tokens long with " + vocabOf(spec.cls) +
                            " and " + vocabOf(spec.sep) + "; this model reads at most " + thousands(spec.maxTokens) + ".");
      topK = Math.max(1, Math.min(100, Math.floor(Number(topK) || 5), model.cfg.vocab));
      var out = forward(enc.ids, enc.tokenTypes, topK);
      out.ids = enc.ids;
      out.tokens = enc.tokens;
      out.tokenTypes = enc.tokenTypes;
      out.special = [];
      enc.ids.forEach(function (id, i) { if (id === spec.cls || id === spec.sep) out.special.push(i); });
      out.ms = performance.now() - start;
      return out;
    }
    function vocabOf(id) { return manifest.vocab[id]; }

    self.onmessage = function (event) {
      var msg = event.data;
      try {
        if (msg.type === "init") {
          manifest = msg.manifest;
          bytes = new Uint8Array(manifest.bytes);
          partsLeft = manifest.parts.length;
          pendingTensors = manifest.tensors.slice();
          readyId = msg.id;
          tokenizer = makeTokenizer(manifest.tokenizer, manifest.vocab);
          return;
        }
        if (msg.type === "part") {
          var t0 = performance.now();
          decodePart(manifest.parts[msg.index], msg.data);
          arrived[msg.index] = true;
          var t1 = performance.now();
          buildReady();
          timings.decode += t1 - t0;
          timings.build += performance.now() - t1;
          if (--partsLeft === 0) {
            build();
            self.postMessage({ id: readyId, value: { config: manifest.config, precision: manifest.precision, maxTokens: manifest.tokenizer.maxTokens, maskToken: manifest.tokenizer.maskToken, timings: timings } });
          }
          return;
        }
        if (!model) throw new LiveError("not-loaded", "The model is not loaded yet.");
        if (msg.type === "tokenize") {
          self.postMessage({ id: msg.id, value: tokenize(msg.text, msg.pair) });
        } else if (msg.type === "run") {
          var r = run(msg.text, msg.pair, msg.topK);
          self.postMessage({ id: msg.id, value: r }, [r.attention.buffer, r.norms.buffer]);
        }
      } catch (e) {
        var known = e instanceof LiveError;
        self.postMessage({ id: msg.type === "part" ? readyId : msg.id,
                           error: { code: known ? e.code : "internal", message: known ? e.message : "Live mode failed: " + (e && e.message || e) } });
      }
    };
  }

  // ---- The page's side: load the files, start the worker, wrap its answers. ----
  var worker = null, loading = null, pending = {}, nextId = 1;

  function liveError(err) {
    var e = new Error(err.message);
    e.code = err.code;
    return e;
  }

  function call(message) {
    return new Promise(function (resolve, reject) {
      message.id = nextId++;
      pending[message.id] = { resolve: resolve, reject: reject };
      worker.postMessage(message);
    });
  }

  function startWorker() {
    var url = URL.createObjectURL(new Blob(["(" + workerMain.toString() + ")();\n"], { type: "text/javascript" }));
    worker = new Worker(url);
    worker.onmessage = function (event) {
      var msg = event.data, p = pending[msg.id];
      if (!p) return;
      delete pending[msg.id];
      URL.revokeObjectURL(url);
      if (msg.error) p.reject(liveError(msg.error));
      else p.resolve(msg.value);
    };
    worker.onerror = function (event) {
      event.preventDefault();
      var err = liveError({ code: "internal", message: "Live mode's worker stopped: " + (event.message || "unknown error") });
      Object.keys(pending).forEach(function (id) { pending[id].reject(err); delete pending[id]; });
    };
  }

  function addScript(url) {  // the data a <script src> file put into the registry
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = url;
      s.onload = function () {
        var registry = window[REGISTRY] || {}, data = registry[s.src];
        delete registry[s.src];
        s.remove();
        if (data === undefined) reject(liveError({ code: "load", message: url + " holds no live-mode data." }));
        else resolve(data);
      };
      s.onerror = function () {
        s.remove();
        reject(liveError({ code: "load", message: "Could not load " + url + ": is the file there?" }));
      };
      document.head.appendChild(s);
    });
  }

  function load(options) {
    if (loading) return loading;
    options = options || {};
    var base = options.base === undefined ? "live/" : options.base, onProgress = options.onProgress || function () {};
    if (base && base.slice(-1) !== "/") base += "/";
    var start = performance.now(), root = new URL(base, document.baseURI);
    loading = addScript(new URL(MANIFEST, root).href).then(function (manifest) {
      if (!manifest || manifest.format !== 1)
        throw liveError({ code: "load", message: base + MANIFEST + " is not a live-mode model this page can read." });
      try { startWorker(); } catch (e) {
        throw liveError({ code: "load", message: "This browser cannot start a Web Worker here, so live mode cannot run: " + e.message });
      }
      var ready = call({ type: "init", manifest: manifest }), done = 0;
      onProgress(0, manifest.parts.length);
      var parts = manifest.parts.map(function (entry, i) {
        var name = entry.file;
        return addScript(new URL(name, root).href).then(function (part) {
          if (!part || part.key !== manifest.key)
            throw liveError({ code: "load", message: base + name + " belongs to another export of the model (an old copy in the browser's cache?): reload the page." });
          worker.postMessage({ type: "part", index: i, data: part.data });
          onProgress(++done, manifest.parts.length);
        });
      });
      return Promise.all(parts).then(function () {
        live.timings.scripts = performance.now() - start;
        return ready;
      });
    }).then(function (info) {
      live.timings.load = performance.now() - start;
      live.info = info;
      return info;
    }, function (err) {
      if (worker) worker.terminate();
      worker = null;
      loading = null;  // a later load() tries again
      throw err;
    });
    return loading;
  }

  // a getter that builds the nested arrays once, when first read (a long sentence's attention is large)
  function lazy(obj, name, make) {
    Object.defineProperty(obj, name, { enumerable: true, configurable: true, get: function () {
      var value = make();
      Object.defineProperty(obj, name, { value: value, enumerable: true });
      return value;
    } });
  }

  function nested(flat, dims) {
    function build(offset, d) {
      var n = dims[d], out = new Array(n), stride = 1;
      for (var k = d + 1; k < dims.length; k++) stride *= dims[k];
      for (var i = 0; i < n; i++) out[i] = d === dims.length - 1 ? flat[offset + i] : build(offset + i * stride, d + 1);
      return out;
    }
    return build(0, 0);
  }

  function result(text, pair, r) {
    var cfg = live.info.config, L = cfg.layers, H = cfg.heads, T = r.ids.length;
    var out = { text: text, pair: pair || null, tokens: r.tokens, ids: r.ids, tokenTypes: r.tokenTypes, special: r.special,
                masks: r.masks, layers: L, heads: H, ms: r.ms };
    Object.defineProperty(out, "attentionData", { value: r.attention });  // Float32Array [L*H*T*T]
    Object.defineProperty(out, "normsData", { value: r.norms });  // Float32Array [L*H*T]
    lazy(out, "attention", function () { return nested(r.attention, [L, H, T, T]); });
    lazy(out, "norms", function () { return nested(r.norms, [L, H, T]); });
    return out;
  }

  function ready() {
    if (!loading) return Promise.reject(liveError({ code: "not-loaded", message: "Live mode is not loaded: call bertGalleryLive.load() first." }));
    return loading;
  }

  function run(text, pair, options) {
    return ready().then(function () {
      return call({ type: "run", text: text, pair: pair === undefined ? null : pair, topK: (options || {}).topK });
    }).then(function (r) {
      live.last = result(text, pair, r);
      return live.last;
    });
  }

  function tokenize(text, pair) {
    return ready().then(function () { return call({ type: "tokenize", text: text, pair: pair === undefined ? null : pair }); });
  }

  var live = { load: load, run: run, tokenize: tokenize, last: null, info: null, timings: {} };
  window.bertGalleryLive = live;
})();
