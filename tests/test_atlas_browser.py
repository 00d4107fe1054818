"""The atlas in a real headless Chromium (Debian's chromium and chromium-driver, through selenium), one browser for
the whole file: at 1024, 1400 and 1920 px no page scrolls sideways and no text box overlaps another; every
visualised feature is reachable by links from the overview; each bad deep link and each bad search says what is
wrong; the feature page's controls, the layer page's sorting and filters, and paginated search with thumbnails;
hostile class names and CLIP words run no script; no request leaves file://. Skipped, with the reason, where
Chromium, its driver or selenium is missing."""
from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse

import pandas as pd
import pytest

from test_atlas import _payload, tiny_atlas  # noqa: F401  (the fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,900"]
WIDTHS = (1024, 1400, 1920)
# Installed before any page script: records every dialog and every error event (a script error, or an image or
# script that failed to load), so a test can assert that nothing ran and nothing broke.
HOOKS = """window.__fired = [];
['alert', 'confirm', 'prompt'].forEach(function (n) {
  window[n] = function (m) { window.__fired.push(n + ':' + m); };
});
window.addEventListener('error', function (e) {
  window.__fired.push('error:' + (e.message || (e.target && e.target.outerHTML) || e.type));
}, true);"""


def open_browser(profile):
    """A headless Chromium with browser and performance logs (selenium), or pytest.skip with the reason."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    if not CHROMIUM or not DRIVER:
        pytest.skip("chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


@pytest.fixture(scope="module")
def drv(tmp_path_factory):
    """One headless Chromium for every test of this file, with HOOKS in every document."""
    d = open_browser(tmp_path_factory.mktemp("profile"))
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOKS})
    yield d
    d.quit()


def wait_page(drv, kind, timeout=20.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if drv.execute_script("return document.body && document.body.getAttribute('data-page')") == kind:
            if drv.execute_script("return Array.from(document.images).every(i => i.complete)"):
                return
        time.sleep(0.02)
    raise AssertionError(f"page {kind!r} did not render; now {drv.current_url} "
                         f"{drv.execute_script('return document.body.innerText')[:300]}")


def shot(drv, name):
    """Save a screenshot of the page under $VITVIZ_ATLAS_SCREENSHOTS, when set (the README's pictures)."""
    import os
    folder = os.environ.get("VITVIZ_ATLAS_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        drv.save_screenshot(os.path.join(folder, f"{name}.png"))


def go(drv, url, kind):
    """Open `url` (a fresh document when the file differs, else a hash change) and wait for the page `kind`."""
    drv.execute_script("document.body && document.body.removeAttribute('data-page'); location.href = arguments[0];",
                       url)
    wait_page(drv, kind)


def fresh(drv, url, kind):
    drv.get(url)
    wait_page(drv, kind)


def images_loaded(drv):
    bad = drv.execute_script("return Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
    assert not bad, f"images that did not load: {bad}"
    return drv.execute_script("return document.images.length")


def no_sideways_scroll(drv, where):
    sw, cw = drv.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sw <= cw, f"{where}: scrolls sideways (scrollWidth {sw} > clientWidth {cw})"


# Pairs of visible text boxes that overlap (neither inside the other), and card labels that reach outside their
# card. A text box is where its text is drawn (a Range over the element's contents, so text overflowing its
# element counts), clipped by every ancestor that hides overflow (an ellipsis is no overlap).
OVERLAPS = """
const clip = (el, r) => {
  for (let n = el; n && n !== document.body; n = n.parentElement) {
    const cs = getComputedStyle(n);
    if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
      const q = n.getBoundingClientRect();
      r = [Math.max(r[0], q.left), Math.max(r[1], q.top), Math.min(r[2], q.right), Math.min(r[3], q.bottom)];
    }
  }
  return r;
};
const texts = Array.from(document.querySelectorAll('main *')).filter(e =>
  e.getClientRects().length && !e.closest('[hidden], details:not([open])') &&
  Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()));
const boxes = texts.map(e => {
  const range = document.createRange();
  range.selectNodeContents(e);
  const r = range.getBoundingClientRect();
  return clip(e, [r.left, r.top, r.right, r.bottom]);
});
const bad = [];
const cut = (a, b) => a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5;
for (let i = 0; i < texts.length; i++) {
  if (boxes[i][2] - boxes[i][0] <= 0.5 || boxes[i][3] - boxes[i][1] <= 0.5) continue;
  for (let j = i + 1; j < texts.length; j++) {
    if (texts[i].contains(texts[j]) || texts[j].contains(texts[i])) continue;
    if (cut(boxes[i], boxes[j])) bad.push([texts[i].outerHTML.slice(0, 80), texts[j].outerHTML.slice(0, 80)]);
  }
  const card = texts[i].closest('.card');
  if (card) {
    const q = card.getBoundingClientRect(), r = boxes[i];
    if (r[0] < q.left - 0.5 || r[2] > q.right + 0.5 || r[1] < q.top - 0.5 || r[3] > q.bottom + 0.5)
      bad.push(['outside its card', texts[i].outerHTML.slice(0, 80)]);
  }
}
return bad.slice(0, 5);
"""


def test_no_sideways_scroll_and_no_overlapping_text_at_three_widths(drv, tiny_atlas):  # noqa: F811
    base = (tiny_atlas.site / "index.html").as_uri()
    name = tiny_atlas.ov["class_synonyms"][0].split(",")[0]
    pages = [("", "overview"), ("#L1/ffn", "layer"), ("#L1/ffn/5", "feature"), ("#L0/attn.q/3", "feature"),
             ("#search/" + urllib.parse.quote(name), "search"), ("#L1/ffn/9999", "error")]
    try:
        for width in WIDTHS:
            drv.set_window_size(width, 900)
            fresh(drv, base, "overview")
            for route, kind in pages:
                go(drv, base + route, kind)
                no_sideways_scroll(drv, f"{route or 'overview'} at {width} px")
                bad = drv.execute_script(OVERLAPS)
                assert not bad, f"{route or 'overview'} at {width} px: overlapping text boxes {bad}"
                images_loaded(drv)
                if route == "#L1/ffn/5":
                    drv.find_element("id", "allmaps").click()  # the maps shown: still nothing overlaps
                    assert not drv.execute_script(OVERLAPS) and drv.find_element("id", "cbar").is_displayed()
    finally:
        drv.set_window_size(1400, 900)


def _hrefs(drv) -> list[str]:
    return drv.execute_script("return Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
                              ".map(a => a.getAttribute('href'))")


def test_every_visualised_feature_is_reachable_from_the_overview(drv, tiny_atlas):  # noqa: F811
    base = (tiny_atlas.site / "index.html").as_uri()
    ov = tiny_atlas.ov
    fresh(drv, base, "overview")
    heads = drv.execute_script("return Array.from(document.querySelectorAll('.ov thead th')).map(t => t.innerText)")
    assert [h.split("\n")[-1] for h in heads[1:]] == ov["kinds"]       # a column per kind of the overview's list
    found, layers, seen = set(), [h for h in _hrefs(drv) if re.fullmatch(r"#L\d+/[a-z.]+", h)], set()
    found |= {h for h in _hrefs(drv) if re.fullmatch(r"#L\d+/[a-z.]+/\d+", h)}
    for h in layers:                                        # the crawl: overview -> layer pages -> feature links
        if h in seen:
            continue
        seen.add(h)
        go(drv, base + h, "layer")
        found |= {x for x in _hrefs(drv) if re.fullmatch(r"#L\d+/[a-z.]+/\d+", x)}
    assert seen == {f"#L{l['layer']}/{l['kind']}" for l in ov["layers"]}
    feats = pd.read_csv(tiny_atlas.root / "feat" / "features.csv")
    want = {f"#L{r.layer}/{r.kind}/{r.feature}" for r in feats.itertuples()}
    assert len(want) == ov["visualized"] == 4 and want <= found, want - found
    for h in sorted(want):                                  # and each of those links opens its page
        go(drv, base + h, "feature")
        assert images_loaded(drv) >= 1


def test_the_committed_default_atlas_keeps_its_text_apart(drv):
    """The atlas of the embedded default, as committed (real histograms, real names, SAE latents): its overview,
    layer pages and every visualised feature's page at the three widths, without sideways scroll or overlapping
    text (histogram tick labels included)."""
    from conftest import REPO
    site = REPO / "atlas" / "vit_demo" / "index.html"
    if not site.exists():
        pytest.skip("no committed atlas/vit_demo (run `dvc repro`)")
    base = site.as_uri()
    fresh(drv, base, "overview")
    features = sorted({h for h in _hrefs(drv) if re.fullmatch(r"#L\d+/[a-z.]+/\d+", h)})
    layers = sorted({h for h in _hrefs(drv) if re.fullmatch(r"#L\d+/[a-z.]+", h)})
    assert len(features) >= 30 and any(".sae/" in h for h in features), features
    try:
        for width in WIDTHS:
            drv.set_window_size(width, 900)
            fresh(drv, base, "overview")
            for route in ["", *layers, *features]:
                kind = "overview" if not route else "feature" if route.count("/") == 2 else "layer"
                drv.execute_script("document.body.removeAttribute('data-page'); location.href = arguments[0];",
                                   base + route)     # a layer's 512 lazy thumbnails need not all load here
                t0 = time.time()
                while drv.execute_script("return document.body.getAttribute('data-page')") != kind:
                    assert time.time() - t0 < 20, f"{route} did not render"
                    time.sleep(0.05)
                no_sideways_scroll(drv, f"{route or 'overview'} at {width} px")
                bad = drv.execute_script(OVERLAPS)
                assert not bad, f"{route or 'overview'} at {width} px: overlapping text boxes {bad}"
    finally:
        drv.set_window_size(1400, 900)


BAD_LINKS = [("#L5/ffn/9999", "There is no block 5 in this atlas: its blocks are 0–2."),
             ("#L1/ffn/9999", "Block 1 FFN (ffn) has features 0–127; there is no feature 9999."),
             ("#L1/attn.q", "Block 1 has no queries (attn.q) in this atlas"),
             ("#L0/attn.k/2", "“attn.k” is not a kind of this atlas: its kinds are ffn, attn.q."),
             ("#L0/attn.q/4", "was not mined: only its visualised features have pages (F3); there is no feature 4"),
             ("#nonsense", "is not an address of this atlas. Addresses look like #L0/ffn")]
BAD_SEARCHES = [("L1 F9999", "error", "Block 1 FFN (ffn) has features 0–127; there is no feature 9999."),
                ("L9 F1", "error", "There is no block 9 in this atlas"),
                ("L0 attn.q F7", "error", "only its visualised features have pages (F3)"),
                ("L1 F", "error", "reads as a feature address but is not one"),
                ("zzzz", "search", "No feature matches “zzzz”. Search takes a feature address")]


def test_each_bad_deep_link_and_search_says_what_is_wrong(drv, tiny_atlas):  # noqa: F811
    from selenium.webdriver.common.by import By
    base = (tiny_atlas.site / "index.html").as_uri()
    fresh(drv, base, "overview")
    for route, message in BAD_LINKS:
        go(drv, base + route, "error")
        text = drv.find_element(By.CSS_SELECTOR, "[role=alert]").text
        assert message in text, (route, text)
        fresh(drv, base + route, "error")                   # the same when the link is opened fresh
        assert message in drv.find_element(By.CSS_SELECTOR, "[role=alert]").text
    for query, kind, message in BAD_SEARCHES:
        go(drv, base, "overview")
        box = drv.find_element(By.ID, "q")
        box.clear(), box.send_keys(query)
        drv.execute_script("document.body.removeAttribute('data-page')")
        box.submit()
        wait_page(drv, kind)
        text = drv.find_element(By.CSS_SELECTOR, "[role=alert]").text
        assert message in text, (query, text)
    go(drv, base, "overview")
    box = drv.find_element(By.ID, "q")
    box.clear(), box.send_keys("L0 F3"), box.submit()       # a good id jumps to the feature's page
    wait_page(drv, "feature")
    assert drv.current_url.endswith("#L0/ffn/3")


def test_feature_page_shows_the_dashboard_with_maps_off(drv, tiny_atlas):  # noqa: F811
    from selenium.webdriver.common.by import By
    base = (tiny_atlas.site / "index.html").as_uri()
    fresh(drv, base + "#L1/ffn/5", "feature")
    result = tiny_atlas.result
    rows = result.top("blocks.1.ffn", 5)[0]
    canvas = drv.find_element(By.CSS_SELECTOR, "canvas[data-j='0']")
    assert not canvas.is_displayed()                        # maps off by default: the exemplars show
    shot(drv, "feature")
    drv.find_element(By.ID, "allmaps").click()
    assert canvas.is_displayed() and drv.find_element(By.ID, "cbar").is_displayed()   # with their colour bar
    drv.find_element(By.ID, "allmaps").click()
    assert not canvas.is_displayed()
    text = drv.find_element(By.TAG_NAME, "main").text
    for part in ["90–99th percentile", "50–90th percentile", "bottom 10%", "minimising (lowest 3 of the split)",
                 "Activation density", "of images and", "of patch tokens", "Definition: a feature is active",
                 "Logit effects", "raises", "lowers", "activation ratio", "0.200", "verdict", "failed",
                 "Failed: scoring flagged it", "images", "mean of the feature over an image's patch tokens"]:
        assert part in text, part
    assert images_loaded(drv) == 1 + len(rows) + 3 + sum(len(b[0]) for b in _feature(tiny_atlas, 1, 5)["bands"])
    ticks = drv.execute_script("return Array.from(document.querySelectorAll('svg.hist text')).map(t => t.textContent)")
    assert "0" in ticks and len(ticks) >= 6                 # a y scale (0, half, top), x ticks and two axis labels
    assert drv.find_element(By.CSS_SELECTOR, "a.prev").get_attribute("href").endswith("#L1/ffn/4")
    assert drv.find_element(By.CSS_SELECTOR, "a.next").get_attribute("href").endswith("#L1/ffn/6")
    href = drv.find_element(By.CSS_SELECTOR, "a.json").get_attribute("href")
    assert href.startswith("data:application/json")
    data = json.loads(urllib.parse.unquote(href.split(",", 1)[1]))
    assert data["feature"] == 5 and data["site"] == "blocks.1.ffn" and data["data"]["rows"] == rows
    drv.find_element(By.ID, "logy").click()                 # a log y scale redraws the histogram
    assert "log scale" in drv.find_element(By.CSS_SELECTOR, "svg.hist").text
    # the class line is not a share when no class repeats among the top exemplars
    _, cards = _payload(tiny_atlas.site / "data" / "cards_L1_ffn.js")
    mixed = next(f for f in cards["f"] if cards["n"][f] < 2 and not cards["nv"][f])
    go(drv, base + f"#L1/ffn/{mixed}", "feature")
    assert "different classes: no class repeats" in drv.find_element(By.TAG_NAME, "main").text
    assert "% of the top-" not in drv.find_element(By.TAG_NAME, "main").text


def _feature(a, layer, f):
    _, shard = _payload(a.site / "data" / f"feat_L{layer}_ffn_{f // 16}.js")
    return next(d for d in shard["features"] if d["f"] == f)


def test_layer_page_sorts_and_filters(drv, tiny_atlas):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    base = (tiny_atlas.site / "index.html").as_uri()
    fresh(drv, base + "#L1/ffn", "layer")
    _, c = _payload(tiny_atlas.site / "data" / "cards_L1_ffn.js")
    shown = lambda: [int(h.rsplit("/", 1)[1]) for h in drv.execute_script(  # noqa: E731
        "return Array.from(document.querySelectorAll('#grid .card')).map(a => a.getAttribute('href'))")]
    assert shown() == c["f"] and "top exemplar" not in drv.find_element(By.ID, "grid").text
    shot(drv, "layer")
    Select(drv.find_element(By.ID, "sort")).select_by_value("di")
    assert shown() == sorted(c["f"], key=lambda f: (-c["di"][f], f))
    Select(drv.find_element(By.ID, "sort")).select_by_value("ar")
    assert shown()[:2] == [0, 5]                            # the scored ones first, higher activation ratio first
    Select(drv.find_element(By.ID, "sort")).select_by_value("id")
    modal = [f for f in c["f"] if c["n"][f] >= 2 and not c["nv"][f]]   # a class repeats; ever active
    cls = max(set(c["cls"]), key=lambda x: sum(1 for f in modal if c["cls"][f] == x))
    Select(drv.find_element(By.ID, "fcls")).select_by_value(str(cls))
    assert shown() == [f for f in modal if c["cls"][f] == cls]
    Select(drv.find_element(By.ID, "fcls")).select_by_value("")
    dens = drv.find_element(By.ID, "fdens")
    dens.clear(), dens.send_keys("95")
    drv.execute_script("arguments[0].dispatchEvent(new Event('change', {bubbles: true}))", dens)
    assert shown() == [f for f in c["f"] if c["di"][f] >= 0.95]
    dens.clear(), dens.send_keys("0")
    drv.execute_script("arguments[0].dispatchEvent(new Event('change', {bubbles: true}))", dens)
    drv.find_element(By.ID, "ffail").click()
    assert shown() == [5] and drv.find_element(By.ID, "shown").text == f"showing 1 of {len(c['f'])}"


def test_search_lists_thumbnails_page_by_page(drv, tiny_atlas):  # noqa: F811
    from selenium.webdriver.common.by import By
    a = tiny_atlas
    base = (a.site / "index.html").as_uri()
    ov, labels = a.ov, a.index.split("val")["label"].to_numpy()
    best = None
    for c in range(len(ov["classes"])):                     # the class most features are selective for
        want = 0
        for layer in ov["layers"]:
            if not layer["mined"]:
                continue
            _, cards = _payload(a.site / "data" / f"cards_{layer['id']}.js")
            for f in range(layer["channels"]):
                if cards["nv"][f]:                         # never active: its exemplars are no evidence
                    continue
                rows = a.result.top(layer["site"], f)[0]
                counts = [list(labels[rows]).count(x) for x in range(len(ov["classes"]))]
                top = max(range(len(counts)), key=lambda x: (counts[x], -x))
                want += int(top == c and counts[top] >= 2 and counts[top] / len(rows) >= 0.5)
        best = max(best or (0, c), (want, c))
    want, c = best
    name = ov["class_synonyms"][c]
    assert "," in name and name != ov["classes"][c] and want > 60   # the whole description: no card shows it
    fresh(drv, base + "#search/" + urllib.parse.quote(name), "search")
    assert f"{want} features" in drv.find_element(By.ID, "hitcount").text
    assert len(drv.find_elements(By.CSS_SELECTOR, "#hits .card img")) == 60       # with thumbnails
    assert drv.find_element(By.ID, "showing").text == f"Showing 60 of {want}."
    shot(drv, "search")
    drv.find_element(By.ID, "more").click()
    assert len(drv.find_elements(By.CSS_SELECTOR, "#hits .card")) == min(120, want)
    images_loaded(drv)


HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "\" onmouseover=\"alert(3)",
           "javascript:alert(4)"]


@pytest.fixture(scope="module")
def hostile_atlas(tiny_atlas, tiny_loaded, tmp_path_factory):  # noqa: F811
    """The tiny atlas rebuilt with hostile class names, CLIP words, logit class names and a visualisation file name."""
    from vitviz.atlas.export import write_atlas_data
    from vitviz.atlas.page import write_pages
    from vitviz.atlas.scores import read_scores
    from vitviz.atlas.settings import AtlasConfig
    from vitviz.data.imagenet import DatasetIndex
    from vitviz.exemplars.store import read_exemplars
    from vitviz.models.transforms import crop_transform
    from vitviz.visualization.store import read_features
    a = tiny_atlas
    root = tmp_path_factory.mktemp("hostile")
    index = DatasetIndex(a.index.root, pd.DataFrame({"wnid": a.index.wnids, "name": HOSTILE}), a.index.splits)
    ex = read_exemplars(a.root / "ex")
    ex.concepts = pd.DataFrame({"site": ["blocks.1.ffn"] * 2, "feature": [5, 0], "label_1": HOSTILE[:2],
                                "label_2": HOSTILE[2:]})
    ex.logit_classes = HOSTILE
    feats, meta = read_features(a.root / "feat")
    shutil.copytree(a.root / "feat", root / "feat")
    evil = "x\"'><img src=y onerror=alert(5)>.png"
    (root / "feat" / feats.loc[2, "image"]).rename(root / "feat" / "images" / evil)
    feats.loc[2, "image"] = "images/" + evil                # blocks.1.ffn feature 5
    write_atlas_data(root / "site", "tiny", ex, feats, meta, root / "feat", index, crop_transform(tiny_loaded.spec),
                     AtlasConfig(thumb_size=32, shard_features=16), read_scores(a.root / "scores"))
    write_pages(root / "site", "tiny")
    return root / "site"


def test_hostile_names_run_no_script(drv, hostile_atlas):
    from selenium.webdriver.common.by import By
    base = (hostile_atlas / "index.html").as_uri()
    fresh(drv, base, "overview")
    for route, kind in [("#L1/ffn", "layer"), ("#L1/ffn/5", "feature"), ("#L1/ffn/0", "feature"),
                        ("#search/" + urllib.parse.quote("<img"), "search"),
                        ("#search/" + urllib.parse.quote("javascript"), "search"),
                        ("#search/" + urllib.parse.quote(HOSTILE[0]), "search")]:
        go(drv, base + route, kind)
        got = drv.execute_script("""return {fired: window.__fired,
            onerror: document.querySelectorAll('[onerror], [onmouseover], [onload]').length,
            js: Array.from(document.querySelectorAll('a[href], img[src]'))
                  .map(e => e.getAttribute('href') || e.getAttribute('src')).filter(u => /^\\s*javascript:/i.test(u)),
            scripts: Array.from(document.scripts).map(s => s.getAttribute('src'))}""")
        assert got["fired"] == [] and got["onerror"] == 0 and got["js"] == [], (route, got)
        assert all(re.fullmatch(r"atlas\.js|data/[\w.%]+\.js", s or "") for s in got["scripts"]), got["scripts"]
        images_loaded(drv)
        if route == "#L1/ffn/5":
            text = drv.find_element(By.TAG_NAME, "main").text
            assert HOSTILE[0] in text and HOSTILE[3] in text        # shown as text, literally
            src = drv.find_element(By.CSS_SELECTOR, "img.full").get_attribute("src")
            assert urllib.parse.unquote(src).endswith("/vis/x\"'><img src=y onerror=alert(5)>.png"), src
    assert "<img src=x onerror=alert(1)>" in drv.find_element(By.TAG_NAME, "main").text


def test_escaping_functions_and_the_link_allow_list(drv, tiny_atlas):  # noqa: F811
    fresh(drv, (tiny_atlas.site / "index.html").as_uri(), "overview")
    run = lambda fn, x: drv.execute_script(f"return window.vitvizEscape.{fn}(arguments[0])", x)  # noqa: E731
    assert run("esc", "<b a='1'>&\"") == "&lt;b a=&#39;1&#39;&gt;&amp;&quot;"
    assert run("attr", "a\" onerror='x' b=`c` d") == "a&#34;&#32;onerror&#61;&#39;x&#39;&#32;b&#61;&#96;c&#96;&#32;d"
    for bad in ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " java\tscript:alert(1)", "data:text/html,<b>",
                "vbscript:x", "//evil.example/x.png", "\\\\evil/x", "/\\evil/x", "file:///etc/passwd"]:
        assert run("safeUrl", bad) == "#blocked", bad
    for good in ["https://example.org/a", "http://example.org/", "vis/blocks.1.ffn_f0005.png", "thumbs/3.jpg",
                 "#L1/ffn/5", "a b/c?d=1"]:
        assert run("safeUrl", good) == good, good


def test_pages_stay_offline_with_no_console_error(drv, tiny_atlas):  # noqa: F811
    base = (tiny_atlas.site / "index.html").as_uri()
    drv.get_log("browser"), drv.get_log("performance")                      # start from empty logs
    fresh(drv, base, "overview")
    for route, kind in [("#L1/ffn", "layer"), ("#L1/ffn/0", "feature"), ("#L0/attn.q/3", "feature")]:
        go(drv, base + route, kind)
    fresh(drv, base + "#L1/ffn/0", "feature")                                # a deep link opened fresh
    images_loaded(drv)
    assert drv.execute_script("return window.__fired") == []
    errors = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    urls = []
    for e in drv.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m["method"] == "Network.requestWillBeSent":
            urls.append((m["params"].get("documentURL", ""), m["params"]["request"]["url"]))
    # the page's own requests stay on file:// (chrome:// ones are the browser's internal new-tab page)
    ours = [u for d, u in urls if d.startswith("file://")]
    assert len(ours) > 5 and all(u.startswith(("file://", "data:")) for u in ours), ours
    assert not [u for _, u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))]
