/* vitviz feature atlas: a static page over lazily loaded data shards. Written for this project (no framework,
   no network): every data file is a script under data/ that calls vitvizAtlas(name, payload). */
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
      s.src = "data/" + name + ".js";
      s.onerror = function () {
        (waiting[name] || []).forEach(function (w) { w[1](new Error("missing data file data/" + name + ".js")); });
        delete waiting[name];
      };
      document.head.appendChild(s);
    });
  }
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function fmt(x, d) { return x === null || x === undefined ? "n/a" : Number(x).toFixed(d === undefined ? 3 : d); }
  function layerOf(ov, layer, kind) {
    for (var i = 0; i < ov.layers.length; i++) {
      var l = ov.layers[i];
      if (l.layer === layer && l.kind === kind) return l;
    }
    return null;
  }
  function link(l, f) { return "#L" + l.layer + "/" + l.kind + (f === undefined ? "" : "/" + f); }
  function main() { return document.getElementById("main"); }
  function done(kind) { document.body.setAttribute("data-page", kind); window.atlasRendered = performance.now(); }

  function overview(ov) {
    var h = "<h1>" + esc(ov.model) + ": feature atlas</h1>";
    h += "<p>" + ov.features + " features mined over " + ov.images + " " + esc(ov.split) + " images (statistic: " +
      esc(ov.stat) + " over patch tokens, top " + ov.k + " exemplars each); " + ov.visualized +
      " visualised. Each exemplar thumbnail is stored once (" + ov.thumbs + " thumbnails).</p>";
    h += "<table class='ov'><tr><th>block</th><th>kind</th><th>features</th><th>visualised</th>" +
      "<th>locality (mass in top " + Math.round(100 * (ov.locality_fraction || 0)) + "% of patches)</th></tr>";
    ov.layers.forEach(function (l) {
      h += "<tr><td><a href='" + link(l) + "'>" + l.layer + "</a></td><td>" + esc(l.kind) + "</td><td>" + l.channels +
        "</td><td>" + l.visualized + "</td><td>" + fmt(l.locality) + "</td></tr>";
    });
    h += "</table>";
    main().innerHTML = h;
    done("overview");
  }

  function card(ov, l, c, i) {
    var f = c.f[i], img = c.vis[i] ? c.vis[i] : (c.thumb[i] >= 0 ? "thumbs/" + c.thumb[i] + ".jpg" : null);
    var lazy = c.f.length > 512 ? " loading='lazy'" : "";
    var cls = c.cls[i] >= 0 ? ov.classes[c.cls[i]] : "none";
    return "<a class='card " + (c.vis[i] ? "vis" : "ex") + "' href='" + link(l, f) + "'>" +
      (img ? "<img src='" + img + "'" + lazy + " alt=''>" : "<div class='noimg'></div>") +
      "<span class='id'>F" + f + "</span><span class='tag'>" + (c.vis[i] ? "visualised" : "top exemplar") +
      "</span><span class='cls'>" + esc(cls) + " " + Math.round(100 * c.share[i]) + "%</span>" +
      (c.clip[i] ? "<span class='clip'>" + esc(c.clip[i]) + "</span>" : "") + "</a>";
  }

  function layerPage(ov, l) {
    return load("cards_" + l.id).then(function (c) {
      var h = "<p class='crumb'><a href='#'>overview</a> / block " + l.layer + " " + esc(l.kind) + "</p>";
      h += "<h1>Block " + l.layer + ", " + esc(l.kind) + "</h1><p>" + l.channels + " features, " + l.visualized +
        " visualised (the others show their top exemplar). Percentages: the share of the top-" + ov.k +
        " exemplars in the modal class.</p><div class='grid'>";
      var parts = [];
      for (var i = 0; i < c.f.length; i++) parts.push(card(ov, l, c, i));
      main().innerHTML = h + parts.join("") + "</div>";
      done("layer");
    });
  }

  var JET = [[0, 0, 0.5], [0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0], [0.5, 0, 0]];
  function jet(t) {
    var x = t * (JET.length - 1), i = Math.min(Math.floor(x), JET.length - 2), u = x - i, a = JET[i], b = JET[i + 1];
    return [0, 1, 2].map(function (k) { return Math.round(255 * (a[k] + u * (b[k] - a[k]))); });
  }
  function drawMap(canvas, b64, grid) {
    var raw = atob(b64), gh = grid[0], gw = grid[1], ctx = canvas.getContext("2d");
    canvas.width = gw; canvas.height = gh;
    var im = ctx.createImageData(gw, gh);
    for (var p = 0; p < gh * gw; p++) {
      var c = jet(raw.charCodeAt(p) / 255);
      im.data[4 * p] = c[0]; im.data[4 * p + 1] = c[1]; im.data[4 * p + 2] = c[2]; im.data[4 * p + 3] = 150;
    }
    ctx.putImageData(im, 0, 0);
  }
  function histogram(d, vals) {
    if (!d.hist.length) return "<p>no histogram</p>";
    var W = 360, H = 120, n = d.hist.length, m = Math.max.apply(null, d.hist.concat([1]));
    var s = "<svg class='hist' width='" + W + "' height='" + (H + 18) + "' viewBox='0 0 " + W + " " + (H + 18) + "'>";
    for (var i = 0; i < n; i++) {
      var h = H * d.hist[i] / m, x = i * W / n;
      s += "<rect x='" + x.toFixed(1) + "' y='" + (H - h).toFixed(1) + "' width='" + (W / n - 1).toFixed(1) +
        "' height='" + h.toFixed(1) + "'><title>" + d.hist[i] + " images</title></rect>";
    }
    var kth = vals.length ? vals[vals.length - 1] : null;
    if (kth !== null && d.hi > d.lo) {
      var xk = W * (kth - d.lo) / (d.hi - d.lo);
      s += "<line x1='" + xk + "' x2='" + xk + "' y1='0' y2='" + H + "' class='kth'></line>";
    }
    s += "<text x='0' y='" + (H + 14) + "'>" + fmt(d.lo) + "</text><text x='" + W + "' y='" + (H + 14) +
      "' text-anchor='end'>" + fmt(d.hi) + "</text></svg>";
    return s + "<p class='note'>" + d.hist.reduce(function (a, b) { return a + b; }, 0) + " images in " + n +
      " equal bins spanning every image of the split (power-of-two widths, exact counts)" +
      ". The line marks the k-th exemplar.</p>";
  }

  function featurePage(ov, l, f) {
    var shard = Math.floor(f / ov.shard_features);
    return load("feat_" + l.id + "_" + shard).then(function (sd) {
      var d = sd.features[f - sd.start];
      if (!d) throw new Error("block " + l.layer + " " + l.kind + " has no feature " + f);
      return load("cards_" + l.id).then(function (c) {
        var h = "<p class='crumb'><a href='#'>overview</a> / <a href='" + link(l) + "'>block " + l.layer + " " +
          esc(l.kind) + "</a> / feature " + f + "</p><h1>Block " + l.layer + ", " + esc(l.kind) + ", feature " + f +
          "</h1><p class='cite'>cite as <code>" + esc(ov.model) + " " + link(l, f) + "</code></p><div class='cols'><div>";
        if (d.vis) {
          h += "<h2>Optimised image</h2><img class='full' src='" + d.vis.img + "' alt='visualisation'>";
        } else {
          h += "<h2>Optimised image</h2><p>Not visualised (exemplars only).</p>";
        }
        h += "<h2>Histogram of the statistic over " + ov.hist_images + " " + esc(ov.split) + " images</h2>" +
          histogram(d, d.vals) + "</div><div>";
        var cls = c.cls[f] >= 0 ? ov.classes[c.cls[f]] : "none";
        h += "<h2>Class selectivity</h2><p>" + Math.round(100 * c.share[f]) + "% of the top-" + d.rows.length +
          " exemplars are <b class='modal'>" + esc(cls) + "</b>.</p>";
        if (d.clip && d.clip.length) h += "<h2>CLIP concepts</h2><p class='clipl'>" + d.clip.map(esc).join(", ") + "</p>";
        h += "<h2>Related features</h2><p class='note'>Other features of this block and kind ranked by the " +
          "Jaccard overlap of their top-" + ov.k + " exemplar sets (|A&cap;B| / |A&cup;B|).</p><ul class='rel'>";
        d.related.forEach(function (r) {
          h += "<li><a href='" + link(l, r[0]) + "'>F" + r[0] + "</a> " + fmt(r[1], 2) + "</li>";
        });
        if (!d.related.length) h += "<li>none shares an exemplar</li>";
        h += "</ul><h2>Recipe</h2>";
        if (d.vis && ov.recipe) {
          h += "<p>seed " + d.vis.seed + ", " + d.vis.steps + " steps, objective " + fmt(d.vis.obj0) + " &rarr; " +
            fmt(d.vis.obj) + "</p><pre>" + esc(JSON.stringify(ov.recipe, null, 1)) + "</pre>";
        } else h += "<p>none (not visualised)</p>";
        h += "</div></div><h2>Top exemplars <label><input type='checkbox' id='allmaps' checked> maps</label></h2>" +
          "<div class='ex'>";
        d.rows.forEach(function (r, j) {
          var has = d.maps[j] && l.grid;
          h += "<figure class='exm'><div class='stack'>" + (r >= 0 ? "<img src='thumbs/" + r + ".jpg' alt=''>" :
            "<div class='noimg'></div>") + (has ? "<canvas data-j='" + j + "'></canvas>" : "") +
            "</div><figcaption>#" + (j + 1) + " " + fmt(d.vals[j]) + (has ? " <label><input type='checkbox' " +
            "class='maptoggle' data-j='" + j + "' checked>map</label>" : "") + "</figcaption></figure>";
        });
        main().innerHTML = h + "</div>";
        Array.prototype.forEach.call(main().querySelectorAll("canvas[data-j]"), function (cv) {
          drawMap(cv, d.maps[+cv.getAttribute("data-j")], l.grid);
        });
        main().addEventListener("change", function (e) {
          var t = e.target;
          if (t.classList.contains("maptoggle")) {
            main().querySelector("canvas[data-j='" + t.getAttribute("data-j") + "']").style.display = t.checked ? "" : "none";
          } else if (t.id === "allmaps") {
            Array.prototype.forEach.call(main().querySelectorAll(".maptoggle"), function (b) {
              b.checked = t.checked;
              b.dispatchEvent(new Event("change", {bubbles: true}));
            });
          }
        });
        done("feature");
      });
    });
  }

  function searchPage(ov, q) {
    var kinds = ov.kinds.map(function (k) { return k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }).join("|");
    var m = new RegExp("^\\s*L?(\\d+)\\s*[\\/ ]?\\s*(" + kinds + ")?\\s*[\\/ ]?\\s*F?(\\d+)\\s*$", "i").exec(q);
    if (m) {
      var l = layerOf(ov, +m[1], (m[2] || ov.kinds[0]).toLowerCase());
      if (l && +m[3] < l.channels) { location.hash = link(l, +m[3]); return Promise.resolve(); }
    }
    return load("search").then(function (s) {
      var ql = q.trim().toLowerCase(), hits = [];
      s.entries.forEach(function (e) {
        var cls = e[2] >= 0 ? (ov.class_synonyms || ov.classes)[e[2]].toLowerCase() : "";   // any synonym matches
        var byClass = ql && cls.indexOf(ql) >= 0 && e[3] >= 0.5;
        var byClip = ql && (" " + e[4].toLowerCase() + " ").indexOf(ql) >= 0;
        if (byClass || byClip) hits.push(e);
      });
      hits.sort(function (a, b) { return b[3] - a[3] || a[0] - b[0] || a[1] - b[1]; });
      var h = "<p class='crumb'><a href='#'>overview</a> / search</p><h1>Search: " + esc(q) + "</h1><p>" + hits.length +
        " features whose exemplars are mostly (&ge; 50%) of a class matching it, or whose CLIP label holds it" +
        (hits.length > 300 ? "; the first 300" : "") + ".</p><ol class='hits'>";
      hits.slice(0, 300).forEach(function (e) {
        var l = ov.layers[e[0]];
        h += "<li><a href='" + link(l, e[1]) + "'>L" + l.layer + " " + esc(l.kind) + " F" + e[1] + "</a> " +
          esc(e[2] >= 0 ? ov.classes[e[2]] : "") + " " + Math.round(100 * e[3]) + "%" +
          (e[4] ? " (" + esc(e[4]) + ")" : "") + "</li>";
      });
      main().innerHTML = h + "</ol>";
      done("search");
    });
  }

  function route() {
    load("overview").then(function (ov) {
      document.title = ov.model + " feature atlas";
      var hsh = decodeURIComponent(location.hash.replace(/^#/, ""));
      if (hsh.indexOf("search/") === 0) return searchPage(ov, hsh.slice(7));
      var m = /^L(\d+)\/([a-z.]+)(?:\/(\d+))?$/.exec(hsh);
      if (!m) return overview(ov);
      var l = layerOf(ov, +m[1], m[2]);
      if (!l) throw new Error("no block " + m[1] + " " + m[2] + " in this atlas");
      return m[3] === undefined ? layerPage(ov, l) : featurePage(ov, l, +m[3]);
    }).catch(function (e) {
      main().innerHTML = "<p class='error'>" + esc(e.message) + "</p>";
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
