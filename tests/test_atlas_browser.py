"""The atlas in a real headless Chromium (Debian's chromium and chromium-driver, through selenium): overview ->
layer -> feature, a map toggle, search by id and by class, a deep link; every image loads, no console error and
no request leaves file://. Skipped, with the reason, where Chromium, its driver or selenium is missing."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from test_atlas import tiny_atlas  # noqa: F401  (the fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,900"]


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


def wait_page(drv, kind, timeout=20.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if drv.execute_script("return document.body && document.body.getAttribute('data-page')") == kind:
            if drv.execute_script("return Array.from(document.images).every(i => i.complete)"):
                return
        time.sleep(0.05)
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
    drv.execute_script("document.body.removeAttribute('data-page'); location.href = arguments[0];", url)
    wait_page(drv, kind)


def images_loaded(drv):
    bad = drv.execute_script("return Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
    assert not bad, f"images that did not load: {bad}"
    return drv.execute_script("return document.images.length")


def test_atlas_in_headless_chromium(tiny_atlas, tmp_path):  # noqa: F811
    site, ov, result, index = tiny_atlas
    from selenium.webdriver.common.by import By
    drv = open_browser(tmp_path / "profile")
    base = (site / "index.html").as_uri()
    try:
        drv.get(base)
        wait_page(drv, "overview")
        assert "feature atlas" in drv.find_element(By.TAG_NAME, "h1").text
        shot(drv, "overview")
        drv.find_element(By.CSS_SELECTOR, "a[href='#L1/ffn']").click()
        wait_page(drv, "layer")
        cards = drv.find_elements(By.CSS_SELECTOR, ".card")
        assert len(cards) == next(l["channels"] for l in ov["layers"] if l["site"] == "blocks.1.ffn")
        assert len(drv.find_elements(By.CSS_SELECTOR, ".card.vis")) == 2
        assert images_loaded(drv) == len(cards)
        shot(drv, "layer")
        drv.find_element(By.CSS_SELECTOR, "a.card[href='#L1/ffn/5']").click()
        wait_page(drv, "feature")
        assert images_loaded(drv) == 1 + len(result.top("blocks.1.ffn", 5)[0])   # visualisation + exemplars
        canvas = drv.find_element(By.CSS_SELECTOR, "canvas[data-j='0']")
        assert canvas.is_displayed()
        shot(drv, "feature")
        drv.find_element(By.CSS_SELECTOR, "input.maptoggle[data-j='0']").click()
        assert not canvas.is_displayed()
        drv.find_element(By.ID, "allmaps").click()
        drv.find_element(By.ID, "allmaps").click()
        assert canvas.is_displayed()
        # search by id jumps to the feature's page
        box = drv.find_element(By.ID, "q")
        box.clear(), box.send_keys("L0 F3"), box.submit()
        wait_page(drv, "feature")
        assert drv.current_url.endswith("#L0/ffn/3")
        # search by class name lists the features whose exemplars are mostly of that class; the cards show the
        # first synonym, the search matches all of them (the whole description here, which no card shows)
        name = ov["class_synonyms"][0]
        assert "," in name and name != ov["classes"][0]
        go(drv, base + "#search/" + name, "search")
        hits = drv.find_elements(By.CSS_SELECTOR, ".hits li")
        labels = index.split("val")["label"].to_numpy()
        want = 0
        for layer in ov["layers"]:
            for f in range(layer["channels"]):
                rows = result.top(layer["site"], f)[0]
                counts = [list(labels[rows]).count(c) for c in range(len(ov["classes"]))]
                top = max(range(len(counts)), key=lambda c: (counts[c], -c))
                want += int(ov["class_synonyms"][top].lower().find(name.lower()) >= 0
                            and counts[top] / len(rows) >= 0.5)
        assert len(hits) == want > 0
        shot(drv, "search")
        # a deep link opened fresh
        drv.get(base + "#L1/ffn/0")
        wait_page(drv, "feature")
        assert "feature 0" in drv.find_element(By.TAG_NAME, "h1").text
        images_loaded(drv)
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
    finally:
        drv.quit()
