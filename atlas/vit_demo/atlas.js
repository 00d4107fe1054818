/* vitviz feature atlas: a static page over lazily loaded data shards. Written for this project (no framework,
   no network): every data file is a script under data/ that calls vitvizAtlas(name, payload).
   Every data text reaches the page through esc() (element text) or attr() (a quoted attribute value), and every
   URL built from data through safeUrl() (http, https or a relative path; anything else is dropped). */
(function () {
  "use strict";
  var cache = {}, waiting = {};
  window.vitvizAtlas = function (name, data) {
    cache[name] = data;
    (waiting[name] || []).forEach(function (w) { w[0](data); });
    delete waiting[name];
  };
  function load(name) {
    return new Promise(function (resolve, reject) {
      if (cache[name]) { resolve(cache[name]); return; }
      var first = !waiting[name];
      (waiting[name] = waiting[name] || []).push([resolve, reject]);
      if (!first) return;
      var s = document.createElement("script");
      s.src = "data/" + encodeURIComponent(name) + ".js";
      s.onerror = function () {
        (waiting[name] || []).forEach(function (w) {
          w[1](new Error("The data file data/" + name + ".js is missing: this atlas folder is incomplete " +
                         "(rebuild it with the atlas stage)."));
        });
        delete waiting[name];
      };
      document.head.appendChild(s);
    });
  }

  // ------------------------------------------------------------------ escaping: one for text, one for attributes
  function esc(t) {
    return String(t === null || t === undefined ? "" : t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function attr(t) {   // for a value inside quotes: every character that could end or bend the attribute
    return String(t === null || t === undefined ? "" : t).replace(/[&<>"'`=\s]/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }
  function safeUrl(u) {   // the scheme allow-list: http, https, or relative (no other scheme, no //host)
    var s = String(u === null || u === undefined ? "" : u), bare = s.replace(/[\u0000-\u0020\u007f]/g, "");
    var scheme = /^([a-z][a-z0-9+.\-]*):/i.exec(bare);
    if (scheme && !/^https?$/i.test(scheme[1])) return "#blocked";
    if (/^[\/\\]{2}/.test(bare)) return "#blocked";
    return s;
  }
  window.vitvizEscape = {esc: esc, attr: attr, safeUrl: safeUrl};   // the three, for the tests

  function img(src, cls, alt, lazy) {
    return "<img src=\"" + attr(safeUrl(src)) + "\"" + (cls ? " class=\"" + attr(cls) + "\"" : "") +
      " alt=\"" + attr(alt || "") + "\"" + (lazy ? " loading=\"lazy\"" : "") + ">";
  }
  function a(href, text, cls) {
    return "<a href=\"" + attr(safeUrl(href)) + "\"" + (cls ? " class=\"" + attr(cls) + "\"" : "") + ">" + text +
      "</a>";
  }

  // ------------------------------------------------------------------ helpers
  function fmt(x, d) { return x === null || x === undefined ? "n/a" : Number(x).toFixed(d === undefined ? 3 : d); }
  function pct(x, short) {
    if (x === null || x === undefined) return "n/a";
    var p = 100 * x;
    return (p > 0 && p < 1 ? p.toFixed(2) : short || p >= 99.95 ? Math.round(p) : p.toFixed(1)) + "%";
  }
  function label(ov, kind) { return (ov.kind_labels && ov.kind_labels[kind]) || kind; }
  function layerOf(ov, layer, kind) {
    for (var i = 0; i < ov.layers.length; i++) {
      var l = ov.layers[i];
      if (l.layer === layer && l.kind === kind) return l;
    }
    return null;
  }
  function link(l, f) { return "#L" + l.layer + "/" + l.kind + (f === undefined ? "" : "/" + f); }
  function title(ov, l) {
    return "Block " + esc(l.layer) + " · " + esc(label(ov, l.kind)) + " <code>" + esc(l.kind) + "</code>";
  }
  function main() { return document.getElementById("main"); }
  function done(kind) { document.body.setAttribute("data-page", kind); window.atlasRendered = performance.now(); }
  function crumb(parts) { return "<p class=\"crumb\">" + [a("#", "overview")].concat(parts).join(" / ") + "</p>"; }
  function className(ov, c) { return c >= 0 && c < ov.classes.length ? ov.classes[c] : "none"; }
  function thumb(r) { return r >= 0 ? "thumbs/" + r + ".jpg" : null; }
  function Missing(msg) { this.message = msg; }

  function hasFeature(l, f) {
    return l.mined ? f >= 0 && f < l.channels : l.only.indexOf(f) >= 0;
  }
  function noFeature(ov, l, f) {
    if (l.mined) {
      return "Block " + l.layer + " " + label(ov, l.kind) + " (" + l.kind + ") has features 0–" + (l.channels - 1) +
        "; there is no feature " + f + ".";
    }
    return "Block " + l.layer + " " + label(ov, l.kind) + " (" + l.kind + ") was not mined: only its visualised " +
      "features have pages (" + l.only.map(function (g) { return "F" + g; }).join(", ") + "); there is no feature " +
      f + " here.";
  }
  function noLayer(ov, block, kind) {
    if (ov.blocks.indexOf(block) < 0) {
      return "There is no block " + block + " in this atlas: its blocks are " + ov.blocks[0] + "–" +
        ov.blocks[ov.blocks.length - 1] + ".";
    }
    var here = ov.layers.filter(function (l) { return l.layer === block; })
      .map(function (l) { return label(ov, l.kind) + " (" + l.kind + ")"; });
    if (ov.kinds.indexOf(kind) < 0) {
      return "“" + kind + "” is not a kind of this atlas: its kinds are " + ov.kinds.join(", ") + ".";
    }
    return "Block " + block + " has no " + label(ov, kind) + " (" + kind + ") in this atlas: it was neither mined " +
      "(mine_exemplars.kinds) nor visualised (optimize_features.select.kinds). Block " + block + " has: " +
      here.join(", ") + ".";
  }

  // ------------------------------------------------------------------ overview
  var VIS_LINKS = 2000;   // up to this many visualised features, the overview links each one
  function overview(ov) {
    var h = "<h1>" + esc(ov.model) + ": feature atlas</h1>";
    h += "<p class=\"lead\">" + ov.features + " features mined over " + ov.images + " " + esc(ov.split) +
      " images (statistic: the " + esc(ov.stat) + " over patch tokens; top " + ov.k + " and bottom " + ov.k +
      " exemplars each, " + (ov.sample ? ov.per_band + " more from each of " + ov.bands.length +
      " quantile bands of a random sample of " + ov.sample + " images" : "no random sample") + "). " +
      ov.visualized + " features visualised (" + ov.failed + " failed, " + ov.scored + " scored). " +
      ov.thumbs + " exemplar thumbnails, each stored once.</p>";
    h += "<table class=\"ov\"><thead><tr><th>block</th>";
    ov.kinds.forEach(function (k) { h += "<th>" + esc(label(ov, k)) + "<br><code>" + esc(k) + "</code></th>"; });
    h += "</tr></thead><tbody>";
    var tot = {};
    ov.kinds.forEach(function (k) { tot[k] = {f: 0, v: 0, x: 0, mined: false}; });
    ov.blocks.forEach(function (b) {
      h += "<tr><th>" + esc(b) + "</th>";
      ov.kinds.forEach(function (k) {
        var l = layerOf(ov, b, k);
        if (!l) { h += "<td class=\"none\">–</td>"; return; }
        var t = tot[k];
        t.v += l.visualized; t.x += l.failed;
        if (l.mined) { t.f += l.channels; t.mined = true; }
        var text = l.mined ? l.channels + " features" : "not mined";
        h += "<td>" + a(link(l), esc(text)) + "<br><span class=\"sub\">" + l.visualized + " visualised" +
          (l.failed ? ", " + l.failed + " failed" : "") + (l.mined && l.locality !== null ? " · locality " +
          fmt(l.locality, 2) : "") + "</span></td>";
      });
      h += "</tr>";
    });
    var all = 0;
    h += "</tbody><tfoot><tr><th>all</th>";
    ov.kinds.forEach(function (k) {
      all += tot[k].v;
      h += "<td>" + (tot[k].mined ? tot[k].f + " features" : "not mined") + "<br><span class=\"sub\">" + tot[k].v +
        " visualised</span></td>";
    });
    h += "</tr></tfoot></table><p class=\"note\">Each cell links to that block and kind. " + all +
      " visualised in all. Locality: the share of a feature's activation mass in the top " +
      Math.round(100 * (ov.locality_fraction || 0)) + "% of patches of its exemplars, averaged.</p>";
    h += "<h2>Visualised features</h2>";
    var vis = [];
    ov.layers.forEach(function (l) { if (l.visualized) vis.push(l); });
    if (!vis.length) h += "<p>None: this model has no visualisations.</p>";
    else {
      h += "<p class=\"vislist\">";
      vis.forEach(function (l) {
        h += "<span class=\"vl\"><b>L" + esc(l.layer) + " " + esc(label(ov, l.kind)) + ":</b> " +
          "<span data-visof=\"" + attr(l.id) + "\">" + a(link(l), l.visualized + " on the layer page") +
          "</span></span> ";
      });
      h += "</p>";
    }
    main().innerHTML = h;
    if (ov.visualized > VIS_LINKS) { done("overview"); return; }   // then the layer pages (filter: visualised)
    // every visualised feature is one click away: fill in their links from the layers' cards
    Promise.all(vis.map(function (l) { return load("cards_" + l.id); })).then(function (all) {
      all.forEach(function (c, i) {
        var l = vis[i], links = [];
        c.f.forEach(function (f, j) {
          if (c.vis[j]) {
            links.push(a(link(l, f), "F" + esc(f) + (c.fail[j] ? " (failed)" : ""), c.fail[j] ? "failed" : ""));
          }
        });
        Array.prototype.forEach.call(main().querySelectorAll("[data-visof]"), function (el) {
          if (el.getAttribute("data-visof") === l.id) el.innerHTML = links.join(", ");
        });
      });
      done("overview");
    }, function () { done("overview"); });
  }

  // ------------------------------------------------------------------ layer page
  function scoreText(s) {
    if (!s) return "";
    var p = [];
    if (s[0] !== null) p.push("AR " + fmt(s[0], 2));
    if (s[2] !== null) p.push("MIS " + fmt(s[2], 2));
    if (s[1] !== null) p.push("sel " + fmt(s[1], 1));
    return p.join(" · ");
  }
  // A feature's modal class counts when it repeats among the top exemplars of a feature that ever fired.
  function hasModal(n, never) { return n >= 2 && !never; }
  function classLabel(ov, never, n, share, cls) {
    return never ? "never active" : hasModal(n, never) ? share + " " + className(ov, cls) : "mixed classes";
  }
  function card(ov, l, c, i, lazy) {
    var f = c.f[i], src = c.vis[i] || (c.thumb && c.thumb[i] >= 0 ? thumb(c.thumb[i]) : null);
    var cls = "card" + (c.vis[i] ? " vis" : "") + (c.fail[i] ? " failed" : "");
    var h = "<a class=\"" + cls + "\" href=\"" + attr(link(l, f)) + "\">" +
      (src ? img(src, "", "", lazy) : "<div class=\"noimg\"></div>") +
      "<span class=\"id\">F" + esc(f) + (c.vis[i] ? " <i class=\"badge\">vis</i>" : "") +
      (c.fail[i] ? " <i class=\"badge bad\">failed</i>" : "") + "</span>";
    if (c.cls) {
      var ct = classLabel(ov, c.nv[i], c.n[i], c.n[i] + "/" + c.m[i], c.cls[i]);
      h += "<span class=\"cls\" title=\"" + attr(ct) + "\">" + esc(ct) + "</span>";
      h += "<span class=\"dens\">" + (c.di[i] !== null ? "active on " + pct(c.di[i], true) : "&nbsp;") + "</span>";
    }
    var st = scoreText(c.score[i]);
    if (st) h += "<span class=\"score\" title=\"" + attr(st) + "\">" + esc(st) + "</span>";
    if (c.clip[i]) h += "<span class=\"clip\" title=\"" + attr(c.clip[i]) + "\">" + esc(c.clip[i]) + "</span>";
    return h + "</a>";
  }
  var SORTS = {
    id: ["feature number", null],
    di: ["image density (highest first)", function (c, i) { return c.di ? c.di[i] : null; }],
    dp: ["patch density (highest first)", function (c, i) { return c.dp ? c.dp[i] : null; }],
    share: ["modal-class count (highest first)", function (c, i) { return c.n ? c.n[i] / Math.max(c.m[i], 1) : null; }],
    ar: ["activation ratio (highest first)", function (c, i) { return c.score[i] ? c.score[i][0] : null; }],
    mis: ["MIS with visualisations (highest first)", function (c, i) { return c.score[i] ? c.score[i][2] : null; }],
    sel: ["selectivity (highest first)", function (c, i) { return c.score[i] ? c.score[i][1] : null; }]
  };
  function layerTools(ov, c) {
    var h = "<form class=\"tools\" id=\"tools\"><label>sort by <select id=\"sort\">";
    Object.keys(SORTS).forEach(function (k) {
      var some = k === "id" || c.f.some(function (_, i) {
        var v = SORTS[k][1](c, i);
        return v !== null && v !== undefined;
      });
      if (some) h += "<option value=\"" + attr(k) + "\">" + esc(SORTS[k][0]) + "</option>";
    });
    h += "</select></label>";
    if (c.cls) {
      var seen = {};
      c.cls.forEach(function (x, i) { if (x >= 0 && hasModal(c.n[i], c.nv[i])) seen[x] = (seen[x] || 0) + 1; });
      h += " <label>modal class <select id=\"fcls\"><option value=\"\">any</option>";
      Object.keys(seen).map(Number).sort(function (x, y) { return seen[y] - seen[x] || x - y; }).forEach(function (x) {
        h += "<option value=\"" + attr(x) + "\">" + esc(className(ov, x)) + " (" + seen[x] + ")</option>";
      });
      h += "</select></label> <label>image density &ge; <input id=\"fdens\" type=\"number\" min=\"0\" max=\"100\" " +
        "step=\"1\" value=\"0\" size=\"4\">%</label>";
    }
    h += " <label><input type=\"checkbox\" id=\"fvis\"> visualised</label>" +
      " <label><input type=\"checkbox\" id=\"fscored\"> scored</label>" +
      " <label><input type=\"checkbox\" id=\"ffail\"> failed</label> <span id=\"shown\" class=\"sub\"></span></form>";
    return h;
  }
  function layerGrid(ov, l, c) {
    var val = function (id) { var e = document.getElementById(id); return e ? e.value : ""; };
    var on = function (id) { var e = document.getElementById(id); return !!(e && e.checked); };
    var key = val("sort") || "id", fc = val("fcls"), fd = Number(val("fdens") || 0) / 100;
    var idx = [];
    for (var i = 0; i < c.f.length; i++) {
      if (fc !== "" && !(c.cls[i] === Number(fc) && hasModal(c.n[i], c.nv[i]))) continue;
      if (fd > 0 && !(c.di && c.di[i] !== null && c.di[i] >= fd)) continue;
      if (on("fvis") && !c.vis[i]) continue;
      if (on("fscored") && !c.score[i]) continue;
      if (on("ffail") && !c.fail[i]) continue;
      idx.push(i);
    }
    var by = SORTS[key] && SORTS[key][1];
    if (by) {
      idx.sort(function (x, y) {
        var u = by(c, x), v = by(c, y);
        u = u === null || u === undefined ? -Infinity : u; v = v === null || v === undefined ? -Infinity : v;
        return v - u || c.f[x] - c.f[y];
      });
    }
    var lazy = idx.length > 256, parts = idx.map(function (i) { return card(ov, l, c, i, lazy); });
    document.getElementById("grid").innerHTML = parts.join("");
    document.getElementById("shown").textContent = "showing " + idx.length + " of " + c.f.length;
  }
  function layerPage(ov, l) {
    return load("cards_" + l.id).then(function (c) {
      var h = crumb(["block " + esc(l.layer) + " " + esc(label(ov, l.kind))]) + "<h1>" + title(ov, l) + "</h1>";
      var same = ov.layers.filter(function (m) { return m.kind === l.kind; });
      h += "<p class=\"nav\">" + same.map(function (m) {
        return m === l ? "<b>L" + esc(m.layer) + "</b>" : a(link(m), "L" + esc(m.layer));
      }).join(" ") + "</p>";
      if (l.mined) {
        h += "<p class=\"note\">" + l.channels + " features, " + l.visualized + " visualised" +
          (l.failed ? " (" + l.failed + " failed)" : "") + ". A card shows the visualisation (blue frame) or else " +
          "the top exemplar; the modal class of the top-" + ov.k + " exemplars with its count (\"mixed classes\" " +
          "when no class repeats); the share of images on which the feature is active; and, where scored, the " +
          "activation ratio (AR), the 2-AFC accuracy with visualisations (MIS) and the selectivity (sel).</p>";
      } else {
        h += "<p class=\"note\">Not mined: no exemplars, density or bands (add <code>" + esc(l.kind) +
          "</code> to mine_exemplars.kinds). Its " + l.visualized + " visualised features:</p>";
      }
      main().innerHTML = h + layerTools(ov, c) + "<div class=\"grid\" id=\"grid\"></div>";
      layerGrid(ov, l, c);
      document.getElementById("tools").addEventListener("change", function () { layerGrid(ov, l, c); });
      document.getElementById("tools").addEventListener("submit", function (e) { e.preventDefault(); });
      done("layer");
    });
  }

  // ------------------------------------------------------------------ activation maps
  var LUT = null;
  function lut(ov) {
    if (!LUT) {
      var raw = atob(ov.colormap);
      LUT = [];
      for (var i = 0; i < raw.length; i += 3) {
        LUT.push([raw.charCodeAt(i), raw.charCodeAt(i + 1), raw.charCodeAt(i + 2)]);
      }
    }
    return LUT;
  }
  function drawMap(ov, canvas, b64, grid) {
    var raw = atob(b64), gh = grid[0], gw = grid[1], ctx = canvas.getContext("2d"), L = lut(ov);
    canvas.width = gw; canvas.height = gh;
    var im = ctx.createImageData(gw, gh), alpha = Math.round(255 * ov.map_alpha);
    for (var p = 0; p < gh * gw; p++) {
      var c = L[raw.charCodeAt(p)];
      im.data[4 * p] = c[0]; im.data[4 * p + 1] = c[1]; im.data[4 * p + 2] = c[2]; im.data[4 * p + 3] = alpha;
    }
    ctx.putImageData(im, 0, 0);
  }
  function drawBar(ov, canvas) {
    var L = lut(ov), ctx = canvas.getContext("2d");
    canvas.width = L.length; canvas.height = 1;
    var im = ctx.createImageData(L.length, 1);
    for (var i = 0; i < L.length; i++) {
      im.data[4 * i] = L[i][0]; im.data[4 * i + 1] = L[i][1]; im.data[4 * i + 2] = L[i][2]; im.data[4 * i + 3] = 255;
    }
    ctx.putImageData(im, 0, 0);
  }

  // ------------------------------------------------------------------ histogram
  function niceMax(m) {
    if (m <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(m))), s = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < s.length; i++) if (s[i] * p >= m) return s[i] * p;
    return 10 * p;
  }
  function histogram(ov, d, logy) {
    if (!d.hist || !d.hist.length) return "<p>No histogram was stored.</p>";
    var W = 420, H = 150, L = 48, B = 40, T = 8, R = 12, n = d.hist.length, iw = W - L - R;
    var m = Math.max.apply(null, d.hist.concat([1]));
    var top = logy ? Math.pow(10, Math.ceil(Math.log10(m + 1))) : niceMax(m);
    var y = function (c) { return logy ? H * Math.log10(1 + c) / Math.log10(1 + top) : H * c / top; };
    var s = "<svg class=\"hist\" width=\"" + W + "\" height=\"" + (H + T + B) + "\" viewBox=\"0 0 " + W + " " +
      (H + T + B) + "\" role=\"img\" aria-label=\"histogram\"><g transform=\"translate(" + L + "," + T + ")\">";
    for (var i = 0; i < n; i++) {
      var h = y(d.hist[i]), x = i * iw / n;
      s += "<rect x=\"" + x.toFixed(1) + "\" y=\"" + (H - h).toFixed(1) + "\" width=\"" +
        Math.max(iw / n - 1, 0.5).toFixed(1) + "\" height=\"" + h.toFixed(1) + "\"><title>" + d.hist[i] +
        " images in [" +
        fmt(d.lo + i * (d.hi - d.lo) / n, 4) + ", " + fmt(d.lo + (i + 1) * (d.hi - d.lo) / n, 4) + ")</title></rect>";
    }
    var ticks = logy ? [0, 1, 10, 100, 1000, 10000, 100000].filter(function (t) { return t <= top; }) :
      [0, top / 2, top];
    ticks.forEach(function (t) {
      var yy = (H - y(t)).toFixed(1);
      s += "<line class=\"tick\" x1=\"-4\" x2=\"0\" y1=\"" + yy + "\" y2=\"" + yy + "\"></line><text x=\"-6\" y=\"" +
        yy + "\" dy=\"0.32em\" text-anchor=\"end\">" + esc(t) + "</text>";
    });
    s += "<line class=\"axis\" x1=\"0\" x2=\"0\" y1=\"0\" y2=\"" + H + "\"></line><line class=\"axis\" x1=\"0\" " +
      "x2=\"" + iw + "\" y1=\"" + H + "\" y2=\"" + H + "\"></line>";
    var X = function (v) { return iw * (v - d.lo) / (d.hi - d.lo); };
    var xt = [d.lo, d.hi], cw = 7;   // cw: an upper bound on the width of one tick-label character, in px
    var wlo = fmt(d.lo, 3).length * cw, whi = fmt(d.hi, 3).length * cw, wz = fmt(0, 3).length * cw / 2 + 6;
    if (d.lo < 0 && d.hi > 0 && X(0) - wz > wlo && iw - X(0) - wz > whi) xt.splice(1, 0, 0);   // room for "0"
    xt.forEach(function (v, j) {
      s += "<line class=\"tick\" x1=\"" + X(v).toFixed(1) + "\" x2=\"" + X(v).toFixed(1) + "\" y1=\"" + H + "\" y2=\"" +
        (H + 4) + "\"></line><text x=\"" + X(v).toFixed(1) + "\" y=\"" + (H + 16) + "\" text-anchor=\"" +
        (j === 0 ? "start" : j === xt.length - 1 ? "end" : "middle") + "\">" + esc(fmt(v, 3)) + "</text>";
    });
    var kth = d.vals && d.vals.length ? d.vals[d.vals.length - 1] : null;
    if (kth !== null && d.hi > d.lo && kth >= d.lo && kth <= d.hi) {
      s += "<line class=\"kth\" x1=\"" + X(kth).toFixed(1) + "\" x2=\"" + X(kth).toFixed(1) + "\" y1=\"0\" y2=\"" + H +
        "\"></line>";
    }
    s += "<text class=\"axlabel\" x=\"" + (iw / 2) + "\" y=\"" + (H + 34) + "\" text-anchor=\"middle\">" +
      esc(ov.stat) + " of the feature over an image's patch tokens</text>";
    s += "<text class=\"axlabel\" transform=\"translate(-38," + (H / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
      "images" + (logy ? " (log scale)" : "") + "</text></g></svg>";
    var total = d.hist.reduce(function (u, v) { return u + v; }, 0);
    return s + "<p class=\"note\">Every one of the " + total + " " + esc(ov.split) + " images counted once, in " + n +
      " bins of width " + fmt((d.hi - d.lo) / n, 4) + " (a power of two; exact counts, edges fixed by the values " +
      "alone). The red line marks the k-th (last) top exemplar. " +
      "<label><input type=\"checkbox\" id=\"logy\"" + (logy ? " checked" : "") + "> log scale</label></p>";
  }

  // ------------------------------------------------------------------ feature page
  function exemplar(r, v, over, size, note) {   // a thumbnail (with `over` drawn over it) and its statistic
    return "<figure class=\"exm " + (size || "") + "\"><div class=\"stack\">" +
      (r >= 0 ? img(thumb(r), "", "") : "<div class=\"noimg\"></div>") + (over || "") + "</div><figcaption>" +
      esc(fmt(v)) + (note || "") + "</figcaption></figure>";
  }
  function modalText(ov, c, f, k) {
    if (!c.cls) return "";
    var n = c.n[f], m = c.m[f];
    if (!m) return "<p>No exemplar was found.</p>";
    if (c.nv[f]) {
      return "<p class=\"bad\">Never active on this split (no patch token above 0): its top exemplars are the " +
        "least inactive images, or ties where the statistic is the same everywhere, not evidence of a class.</p>";
    }
    if (n < 2) {
      return "<p>The top-" + m + " exemplars are of " + m + " different classes: no class repeats, so none " +
        "dominates.</p>";
    }
    return "<p>" + n + " of the top-" + m + " exemplars (" + Math.round(100 * n / m) + "%) are <b class=\"modal\">" +
      esc(className(ov, c.cls[f])) + "</b>.</p>";
  }
  function logitsHtml(ov, d) {
    if (!d.dla) {
      return "<p class=\"note\">" + esc(ov.logit_note || "No direct logit attribution for this kind.") + "</p>";
    }
    var row = function (e) {
      var n = ov.logit_classes[e[0]] !== undefined ? ov.logit_classes[e[0]] : "class " + e[0];
      return "<li><span class=\"lc\">" + esc(n) + "</span> <span class=\"num\">" +
        esc((e[1] > 0 ? "+" : "") + fmt(e[1], 4)) + "</span></li>";
    };
    return "<div class=\"dla\"><div><h3>raises</h3><ol>" + (d.dla.up.map(row).join("") || "<li>none</li>") +
      "</ol></div><div><h3>lowers</h3><ol>" + (d.dla.down.map(row).join("") || "<li>none</li>") + "</ol></div></div>";
  }
  function scoresHtml(ov, d) {
    var s = d.score;
    if (!s) return "<p>Not scored (score_features scores the first visualised features of each site).</p>";
    var rows = [["activation ratio", s.ratio, "the visualisation's statistic over the best natural image's"],
      ["beats best natural image", s.beats === undefined ? null : (s.beats ? "yes" : "no"), ""],
      s.sel !== undefined ? ["selectivity", s.sel, "on the visualisation, the feature's z-score among its site's " +
        "channels over √(C − 1): 1 when only this channel responds"] :
        ["selectivity (z)", s.selz, "on the visualisation, the feature's z-score among its site's channels"],
      ["2-AFC accuracy, visualisations (MIS)", s.mis_v, "a machine participant told top from bottom natural " +
       "images with visualisations as references"],
      ["2-AFC accuracy, natural exemplars", s.mis_n, "the same with natural exemplars as references"],
      ["seed margin", s.seed, "similarity of two seeds' visualisations over other features'"],
      ["verdict", s.failed ? "failed" : "passed", ""]];
    return "<table class=\"kv\">" + rows.filter(function (r) { return r[1] !== null && r[1] !== undefined; })
      .map(function (r) {
        return "<tr><th>" + esc(r[0]) + "</th><td class=\"num\">" + esc(typeof r[1] === "number" ? fmt(r[1]) : r[1]) +
          "</td><td class=\"sub\">" + esc(r[2]) + "</td></tr>";
      }).join("") + "</table>";
  }
  function jsonLink(ov, l, d) {
    var data = {model: ov.model, site: l.site, block: l.layer, kind: l.kind, feature: d.f, split: ov.split,
                statistic: ov.stat, classes: ov.classes, logit_classes: ov.logit_classes, bands: ov.bands, data: d};
    var href = "data:application/json;charset=utf-8," + encodeURIComponent(JSON.stringify(data));
    return "<a class=\"json\" download=\"" + attr(ov.model + "_L" + l.layer + "_" + l.kind + "_" + d.f + ".json") +
      "\" href=\"" + attr(href) + "\">download JSON</a>";
  }
  function neighbours(l, f) {
    if (l.mined) return [f > 0 ? f - 1 : null, f < l.channels - 1 ? f + 1 : null];
    var i = l.only.indexOf(f);
    return [i > 0 ? l.only[i - 1] : null, i < l.only.length - 1 ? l.only[i + 1] : null];
  }
  function featurePage(ov, l, f) {
    if (!hasFeature(l, f)) return Promise.reject(new Missing(noFeature(ov, l, f)));
    var shard = l.mined ? Math.floor(f / ov.shard_features) : 0;
    return Promise.all([load("feat_" + l.id + "_" + shard), load("cards_" + l.id)]).then(function (got) {
      var sd = got[0], c = got[1], d = null, ci = c.f.indexOf(f);
      sd.features.forEach(function (e) { if (e.f === f) d = e; });
      if (!d) throw new Missing(noFeature(ov, l, f));
      var nb = neighbours(l, f), vis = d.vis;
      var h = crumb([a(link(l), "block " + esc(l.layer) + " " + esc(label(ov, l.kind))), "feature " + esc(f)]);
      h += "<h1>" + title(ov, l) + " · feature " + esc(f) + "</h1><p class=\"nav\">" +
        (nb[0] !== null ? a(link(l, nb[0]), "&larr; F" + esc(nb[0]), "prev") : "<span class=\"sub\">first</span>") +
        " " + (nb[1] !== null ? a(link(l, nb[1]), "F" + esc(nb[1]) + " &rarr;", "next") :
               "<span class=\"sub\">last</span>") +
        " · " + jsonLink(ov, l, d) + " · cite as <code>" + esc(ov.model + " " + link(l, f)) + "</code></p>";
      if (!l.mined) {
        h += "<p class=\"note\">This block's " + esc(label(ov, l.kind)) + " were not mined, so this page has no " +
          "exemplars, histogram, density or logit effects: add <code>" + esc(l.kind) + "</code> to " +
          "mine_exemplars.kinds for them.</p>";
      }
      h += "<div class=\"cols\"><section>";
      h += "<h2>Optimised image</h2>";
      if (vis) {
        h += "<div class=\"visbox" + (vis.fail ? " failed" : "") + "\">" + img(vis.img, "full", "visualisation") +
          "</div>";
        if (vis.fail) {
          h += "<p class=\"bad\">Failed: " + (vis.fail === "image" ? "the image is " + esc(ov.image_rule) :
            "scoring flagged it (it does not beat the feature's best natural image and falls short of its " +
            "objective)") + ".</p>";
        }
        h += "<p class=\"sub\">seed " + esc(vis.seed) + ", " + esc(vis.steps) + " steps, objective " +
          esc(fmt(vis.obj0)) + " &rarr; " + esc(fmt(vis.obj)) + "</p>";
      } else h += "<p>Not visualised (exemplars only).</p>";
      if (d.hist !== undefined) {
        h += "<h2>Distribution over " + ov.images + " " + esc(ov.split) + " images</h2><div id=\"histbox\">" +
          histogram(ov, d, false) + "</div>";
        h += "<h2>Activation density</h2>" + (d.dens ? "<p class=\"big\">active on <b>" + pct(d.dens[0]) +
          "</b> of images and <b>" + pct(d.dens[1]) + "</b> of patch tokens</p>" : "<p>not counted</p>") +
          "<p class=\"note\">Definition: " + esc(ov.active_rule) + ".</p>";
      }
      h += "</section><section>";
      if (c.cls) h += "<h2>Class selectivity</h2>" + modalText(ov, c, ci, ov.k);
      if (d.hist !== undefined) h += "<h2>Logit effects</h2>" + logitsHtml(ov, d);
      h += "<h2>Scores</h2>" + scoresHtml(ov, d);
      if (d.clip && d.clip.length) {
        h += "<h2>CLIP concepts</h2><p class=\"clipl\">" + d.clip.map(esc).join(", ") + "</p>";
      }
      if (d.related) {
        h += "<h2>Related features</h2><ul class=\"rel\">";
        d.related.forEach(function (r) {
          h += "<li>" + a(link(l, r[0]), "F" + esc(r[0])) + " r = " + esc(fmt(r[1], 2)) + " <span class=\"sub\">(" +
            esc(r[2]) + " shared top exemplars)</span></li>";
        });
        if (!d.related.length) h += "<li>none (no random sample was mined, or the feature is constant on it)</li>";
        h += "</ul><p class=\"note\">Other features of this block and kind ranked by the correlation of their " +
          "statistics over the random sample of " + ov.sample + " images.</p>";
      }
      h += "</section></div>";
      if (d.rows) {
        h += "<h2>Top " + d.rows.length + " exemplars <label class=\"opt\"><input type=\"checkbox\" id=\"allmaps\"> " +
          "show activation maps</label> <span class=\"cbar\" hidden><canvas id=\"cbar\"></canvas><span>0</span>" +
          "<span>the map's peak</span></span></h2><div class=\"ex\">";
        d.rows.forEach(function (r, j) {
          var has = d.maps[j] && l.grid;
          h += exemplar(r, d.vals[j], has ? "<canvas data-j=\"" + j + "\" hidden></canvas>" : "", "big",
                        has ? " <span class=\"sub\">peak " + esc(fmt(d.mapmax[j], 2)) + "</span>" : "");
        });
        h += "</div>";
        var groups = [];
        if (d.bands && d.bands.some(function (b) { return b[0].length; })) {
          ov.bands.forEach(function (b, i) {
            var band = d.bands[i];
            groups.push("<div class=\"band\"><h3>" + esc(b.label) + "</h3><div class=\"ex\">" +
              (band[0].length ? band[0].map(function (r, j) { return exemplar(r, band[1][j], "", "small"); }).join("") :
               "<p class=\"sub\">no sample image in this band</p>") + "</div></div>");
          });
        }
        if (d.low && d.low.length) {
          groups.push("<div class=\"band low\"><h3>minimising (lowest " + d.low.length + " of the split)</h3>" +
            "<div class=\"ex\">" + d.low.map(function (r, j) { return exemplar(r, d.lowv[j], "", "small"); }).join("") +
            "</div></div>");
        }
        if (groups.length) {
          h += "<h2>Across the activation range</h2><p class=\"note\">Beside the top exemplars: images from " +
            "quantile bands of the feature's statistic over a random sample of " + ov.sample + " images (spread " +
            "evenly by rank within each band; the top 1% is the top exemplars'), and the images of the whole split " +
            "with the lowest statistic (the minimising exemplars), lowest first.</p><div class=\"bands\">" +
            groups.join("") + "</div>";
        }
      }
      if (vis && ov.recipe) {
        h += "<details><summary>Recipe</summary><pre>" + esc(JSON.stringify(ov.recipe, null, 1)) + "</pre></details>";
      }
      h += "<details class=\"help\"><summary>What this page shows</summary><ul>" +
        "<li><b>Top exemplars</b>: the " + ov.k + " " + esc(ov.split) + " images with the highest " + esc(ov.stat) +
        " of the feature over their patch tokens; their maps show the feature at each patch (the positive part " +
        "over the map's peak, the same normalisation and colour map as the report).</li>" +
        "<li><b>Activation density</b>: " + esc(ov.active_rule) + ".</li>" +
        "<li><b>Logit effects</b> (direct logit attribution): the feature's output direction (an FFN channel's " +
        "column of fc2, an SAE latent's decoder atom) centred, scaled by the final LayerNorm's gamma and multiplied " +
        "by the classifier head. It approximates the feature's direct effect on the logits per unit of activation: " +
        "it skips every later block and takes the LayerNorm's division by the token's spread as 1, so only the " +
        "ranking and the relative sizes mean something.</li>" +
        "<li><b>Failed visualisation</b>: " + esc(ov.image_rule) + "; or scored failed (it does not beat the " +
        "feature's best natural image).</li></ul></details>";
      main().innerHTML = h;
      Array.prototype.forEach.call(main().querySelectorAll("canvas[data-j]"), function (cv) {
        drawMap(ov, cv, d.maps[+cv.getAttribute("data-j")], l.grid);
      });
      var bar = document.getElementById("cbar");
      if (bar) drawBar(ov, bar);
      main().onchange = function (e) {
        var t = e.target;
        if (t.id === "allmaps") {
          Array.prototype.forEach.call(main().querySelectorAll("canvas[data-j]"), function (cv) {
            cv.hidden = !t.checked;
          });
          main().querySelector(".cbar").hidden = !t.checked;
        } else if (t.id === "logy") {
          document.getElementById("histbox").innerHTML = histogram(ov, d, t.checked);
        }
      };
      done("feature");
    });
  }

  // ------------------------------------------------------------------ search
  var PAGE = 60;
  function parseId(ov, q) {   // "L5 F12", "L5 ffn 12", "l5/attn.q/F3": [block, kind or null, feature] or null
    var kinds = ov.kinds.slice().sort(function (x, y) { return y.length - x.length; })
      .map(function (k) { return k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }).join("|");
    var m = new RegExp("^\\s*L\\s*(\\d+)\\s*[\\/ ]?\\s*(" + kinds + ")?\\s*[\\/ ]?\\s*F?\\s*(\\d+)\\s*$", "i").exec(q);
    return m ? [+m[1], m[2] ? m[2].toLowerCase() : null, +m[3]] : null;
  }
  function hitCard(ov, e) {
    var l = ov.layers[e[0]], src = e[7] || thumb(e[6]);
    var h = "<a class=\"card" + (e[7] ? " vis" : "") + "\" href=\"" + attr(link(l, e[1])) + "\">" +
      (src ? img(src, "", "", true) : "<div class=\"noimg\"></div>") + "<span class=\"id\">L" + esc(l.layer) + " " +
      esc(label(ov, l.kind)) + " F" + esc(e[1]) + "</span>";
    var ct = classLabel(ov, e[8], e[4], Math.round(100 * e[3]) + "%", e[2]);
    return h + "<span class=\"cls\" title=\"" + attr(ct) + "\">" + esc(ct) + "</span>" +
      (e[5] ? "<span class=\"clip\" title=\"" + attr(e[5]) + "\">" + esc(e[5]) + "</span>" : "") + "</a>";
  }
  function searchPage(ov, q) {
    var id = parseId(ov, q);
    if (id) {
      var kind = id[1], l = null;
      if (kind) l = layerOf(ov, id[0], kind);
      else ov.kinds.some(function (k) { l = layerOf(ov, id[0], k); return l && hasFeature(l, id[2]); });
      if (!l && !kind) ov.kinds.some(function (k) { l = layerOf(ov, id[0], k); return l; });
      if (!l) return Promise.reject(new Missing(noLayer(ov, id[0], kind || ov.kinds[0])));
      if (!hasFeature(l, id[2])) return Promise.reject(new Missing(noFeature(ov, l, id[2])));
      location.replace(link(l, id[2]));
      return Promise.resolve();
    }
    if (/^\s*L\s*\d+\b/i.test(q)) {
      return Promise.reject(new Missing("“" + q + "” reads as a feature address but is not one: write L<block> " +
        "[kind] F<feature>, e.g. L" + ov.blocks[0] + " " + ov.kinds[0] + " F0 (kinds: " + ov.kinds.join(", ") + ")."));
    }
    return load("search").then(function (s) {
      var ql = q.trim().toLowerCase(), hits = [];
      if (ql) {
        s.entries.forEach(function (e) {
          var cls = e[2] >= 0 ? (ov.class_synonyms || ov.classes)[e[2]].toLowerCase() : "";   // any synonym matches
          var byClass = cls.indexOf(ql) >= 0 && e[3] >= 0.5 && hasModal(e[4], e[8]);
          var byClip = (" " + e[5].toLowerCase() + " ").indexOf(ql) >= 0;
          if (byClass || byClip) hits.push(e);
        });
      }
      hits.sort(function (x, y) { return y[3] - x[3] || x[0] - y[0] || x[1] - y[1]; });
      var h = crumb(["search"]) + "<h1>Search: " + esc(q) + "</h1>";
      if (!hits.length) {
        var some = ov.classes.slice(0, 3).map(esc).join(", ");
        h += "<p class=\"error\" role=\"alert\">No feature matches “" + esc(q) + "”. Search takes a feature " +
          "address (L" + ov.blocks[0] + " F12, or L" + ov.blocks[0] + " " + esc(ov.kinds[0]) + " F12), a class " +
          "name (e.g. " +
          some + "; it finds the features whose top exemplars are at least half of that class) or a CLIP word.</p>";
        main().innerHTML = h;
        done("search");
        return;
      }
      h += "<p id=\"hitcount\">" + hits.length + " features whose top exemplars are at least half (and at least two) " +
        "of a class matching it, or whose CLIP label holds it; best share first. <span id=\"showing\"></span></p>" +
        "<div class=\"grid hits\" id=\"hits\"></div><p><button type=\"button\" id=\"more\" hidden></button></p>";
      main().innerHTML = h;
      var shown = 0;
      var more = function () {
        var next = hits.slice(shown, shown + PAGE);
        var cards = next.map(function (e) { return hitCard(ov, e); }).join("");
        document.getElementById("hits").insertAdjacentHTML("beforeend", cards);
        shown += next.length;
        document.getElementById("showing").textContent = "Showing " + shown + " of " + hits.length + ".";
        var b = document.getElementById("more");
        b.hidden = shown >= hits.length;
        b.textContent = "show " + Math.min(PAGE, hits.length - shown) + " more (" + (hits.length - shown) + " left)";
      };
      document.getElementById("more").addEventListener("click", more);
      more();
      done("search");
    });
  }

  // ------------------------------------------------------------------ routing
  function route() {
    load("overview").then(function (ov) {
      document.title = ov.model + " feature atlas";
      var raw = location.hash.replace(/^#/, ""), hsh;
      try { hsh = decodeURIComponent(raw); } catch (e) { hsh = raw; }
      if (hsh === "") return overview(ov);
      if (hsh.indexOf("search/") === 0) return searchPage(ov, hsh.slice(7));
      var m = /^L(\d+)\/([A-Za-z.]+)(?:\/(\d+))?\/?$/.exec(hsh);
      if (!m) {
        throw new Missing("“#" + hsh + "” is not an address of this atlas. Addresses look like #L" + ov.blocks[0] +
          "/" + ov.kinds[0] + " (a layer), #L" + ov.blocks[0] + "/" + ov.kinds[0] + "/12 (a feature) or " +
          "#search/words.");
      }
      var l = layerOf(ov, +m[1], m[2]);
      if (!l) throw new Missing(noLayer(ov, +m[1], m[2]));
      return m[3] === undefined ? layerPage(ov, l) : featurePage(ov, l, +m[3]);
    }).catch(function (e) {
      main().innerHTML = crumb(["not found"]) + "<p class=\"error\" role=\"alert\">" + esc(e && e.message || e) +
        "</p>";
      done("error");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("search").addEventListener("submit", function (e) {
      e.preventDefault();
      location.hash = "search/" + encodeURIComponent(document.getElementById("q").value);
    });
    window.addEventListener("hashchange", route);
    route();
  });
})();
