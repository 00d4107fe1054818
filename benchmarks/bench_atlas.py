"""The atlas at ViT-B/16 scale: build time per 1,000 features, bytes per feature and per exemplar thumbnail, and
the time to first render of one block's FFN layer page (3,072 cards) in headless Chromium.

The exemplar tables are synthetic but shaped as mining a random-weight ViT-B/16 (timm) over ImageNet val gives
them: every FFN and q/k/v channel of the 12 blocks (64,512 features), k top and k minimising exemplars each
drawn from `--images` split rows, `--maps-top` 14x14 activation maps per feature, a histogram and an activation
density per feature, the statistics of every feature on a random sample of `--sample` rows (the quantile bands and
related features), and the direct logit effects of the FFN channels computed from the (random) weights. The
split's rows point at `--distinct` JPEGs on disk (cycled), so every one of the distinct rows the tables use is
decoded, cropped and stored as its own thumbnail, as for real data. The mining pass over the split (model
inference, measured by bench_mining.py) is not part of the build time here.

    python benchmarks/bench_atlas.py                      # full scale: 50,000 images, k = 20
    python benchmarks/bench_atlas.py --blocks 2 --images 5000 --keep /tmp/atlas_b16
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vitviz.atlas.export as export  # noqa: E402
from vitviz.atlas.export import SIZE_BUDGET, feature_budget, write_atlas_data  # noqa: E402
from vitviz.atlas.settings import AtlasConfig  # noqa: E402
from vitviz.atlas.page import write_pages  # noqa: E402
from vitviz.data.imagenet import DatasetIndex  # noqa: E402
from vitviz.models.transforms import crop_transform  # noqa: E402
from vitviz.exemplars.logit_effects import logit_effects  # noqa: E402
from vitviz.exemplars.store import Exemplars  # noqa: E402
from vitviz.activations.sites import list_sites  # noqa: E402
from common import random_loaded  # noqa: E402

log = logging.getLogger("bench_atlas")
KINDS = ("ffn", "attn.q", "attn.k", "attn.v")


def synthetic_split(root: Path, images: int, distinct: int, classes: int, size: int, seed: int) -> DatasetIndex:
    """A val split of `images` rows over `distinct` random-texture JPEGs (cycled), labels spread over `classes`."""
    rng = np.random.default_rng(seed)
    (root / "val").mkdir(parents=True, exist_ok=True)
    for i in range(distinct):
        low = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        im = Image.fromarray(low).resize((size, size), Image.BICUBIC)
        im.save(root / "val" / f"{i}.JPEG", quality=90)
    wnids = [f"n{i:08d}" for i in range(classes)]
    names = [f"class {i}, synonym {i}" for i in range(classes)]
    table = pd.DataFrame({"path": [f"val/{i % distinct}.JPEG" for i in range(images)],
                          "label": rng.integers(0, classes, images), "wnid": "", "boxes": "[]"})
    table["wnid"] = [wnids[c] for c in table["label"]]
    return DatasetIndex(root, pd.DataFrame({"wnid": wnids, "name": names}), {"val": table})


def synthetic_exemplars(model: torch.nn.Module, blocks: int, k: int, images: int, maps_top: int, bins: int,
                        sample: int, classes: list[str], seed: int) -> Exemplars:
    """Top-k and bottom-k tables, maps, locality, histograms, densities, the random sample and the logit effects,
    shaped as mining every FFN and q/k/v channel would give them."""
    rng = np.random.default_rng(seed)
    all_sites = list_sites(model)
    sites = [s for s in all_sites.values() if s.kind in KINDS and s.layer < blocks]
    grid = model.patch_embed.grid_size
    rows, offset = [], 0
    vals, idx, low_vals, low_idx, maps, hists, dens = [], [], [], [], {}, {}, {}

    def spread(n: int) -> torch.Tensor:   # k distinct rows per feature: a random start and stride modulo the split
        start, stride = rng.integers(0, images, n), rng.integers(1, 97, n)
        return torch.from_numpy(((start[None] + np.arange(k)[:, None] * stride[None]) % images).astype(np.int64))

    for s in sites:
        rows.append({"site": s.name, "kind": s.kind, "layer": s.layer, "offset": offset, "channels": s.channels,
                     "spatial": True})
        offset += s.channels
        v = np.sort(rng.gamma(2.0, 1.0, (k, s.channels)).astype(np.float32), axis=0)[::-1]
        vals.append(torch.from_numpy(v.copy()))
        idx.append(spread(s.channels))
        low_vals.append(torch.from_numpy(np.sort(-rng.gamma(1.0, 0.1, (k, s.channels)), axis=0).astype(np.float32)))
        low_idx.append(spread(s.channels))
        maps[s.name] = torch.from_numpy(rng.gamma(1.0, 1.0, (s.channels, maps_top, *grid)).astype(np.float16))
        hists[s.name] = {"counts": torch.from_numpy(rng.integers(0, images // bins + 1, (s.channels, bins))),
                         "edge": torch.zeros(s.channels, dtype=torch.float64),
                         "width": torch.from_numpy(v[0].astype(np.float64) / bins)}
        share = rng.uniform(0.0, 1.0, s.channels)
        dens[s.name] = {"images": torch.from_numpy((share * images).astype(np.int64)),
                        "patches": torch.from_numpy((share ** 2 * images * 196).astype(np.int64)),
                        "totals": torch.tensor([images, images * 196])}
    locality = pd.DataFrame({"site": [r["site"] for r in rows], "top_share": rng.uniform(0.1, 0.4, len(rows))})
    meta = {"split": "val", "stat": "mean", "k": k, "images": images, "maps_top": maps_top, "locality_fraction": 0.1,
            "sample": sample}
    ex = Exemplars(pd.DataFrame(rows), torch.cat(vals, dim=1), torch.cat(idx, dim=1), maps, locality, meta,
                   histograms=hists, low_values=torch.cat(low_vals, dim=1), low_indices=torch.cat(low_idx, dim=1),
                   density=dens)
    ex.sample_rows = torch.from_numpy(np.sort(rng.choice(images, min(sample, images), replace=False)))
    ex.sample_values = torch.from_numpy(rng.gamma(2.0, 1.0, (len(ex.sample_rows), offset)).astype(np.float16))
    ex.logit_effects, ex.logit_note = logit_effects(model, sites, all_sites)
    ex.logit_classes = classes
    return ex


def build(out: Path, ex: Exemplars, index: DatasetIndex, loaded, opts: AtlasConfig) -> dict:
    """Write the atlas; the wall times of the thumbnails and of everything else."""
    times = {"thumbs": 0.0}
    inner = export.write_thumbs

    def timed_thumbs(*a, **kw):
        t0 = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            times["thumbs"] += time.perf_counter() - t0

    export.write_thumbs = timed_thumbs
    try:
        t0 = time.perf_counter()
        ov = write_atlas_data(out, loaded.key, ex, None, None, None, index, crop_transform(loaded.spec), opts)
        write_pages(out, loaded.key)
        times["total"] = time.perf_counter() - t0
    finally:
        export.write_thumbs = inner
    times["data"] = times["total"] - times["thumbs"]
    return {"overview": ov, **times}


def first_render(out: Path, route: str, timeout: float) -> dict | None:
    """Milliseconds from navigation to the page's `atlasRendered` mark (all cards in the DOM) and to every image of
    the first screen loaded, in headless Chromium (None where Chromium, its driver or selenium is missing)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        log.warning("selenium is missing: no render time (pip install selenium)")
        return None
    if not chromium or not driver:
        log.warning("chromium or chromedriver is missing: no render time (apt-get install chromium chromium-driver)")
        return None
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    with tempfile.TemporaryDirectory() as profile:
        for f in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
                  "--no-first-run", "--disable-background-networking", f"--user-data-dir={profile}"):
            opts.add_argument(f)
        drv = webdriver.Chrome(service=Service(driver), options=opts)
        try:
            drv.get((out / "index.html").resolve().as_uri() + "#" + route)
            t0 = time.time()
            while time.time() - t0 < timeout:
                # the first screen: images above the fold (the page loads the others lazily, as they scroll in)
                state = drv.execute_script(
                    "var seen = Array.from(document.images).filter(i => i.getBoundingClientRect().top < innerHeight);"
                    "return [window.atlasRendered || null, seen.length,"
                    " seen.length > 0 && seen.every(i => i.complete && i.naturalWidth > 0), performance.now()]")
                if state[0] is not None and state[2]:
                    cards = drv.execute_script("return document.querySelectorAll('.card').length")
                    return {"rendered_ms": round(state[0]), "first_screen_images_ms": round(state[3]),
                            "first_screen_images": state[1], "cards": cards}
                time.sleep(0.02)
            raise RuntimeError(f"the page {route} did not render within {timeout:.0f} s")
        finally:
            drv.quit()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=12, help="blocks of ViT-B/16 in the atlas (12: all)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--images", type=int, default=50000, help="rows of the split (ImageNet val: 50,000)")
    ap.add_argument("--distinct", type=int, default=500, help="distinct JPEG files the rows cycle over")
    ap.add_argument("--image-size", type=int, default=384, help="side of those JPEGs (ImageNet val: about 400x350)")
    ap.add_argument("--maps-top", type=int, default=5, help="exemplars per feature with a stored map")
    ap.add_argument("--bins", type=int, default=24)
    ap.add_argument("--sample", type=int, default=512, help="rows of the random sample (mine_exemplars.sample)")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="write the atlas here and keep it")
    ap.add_argument("--render-timeout", type=float, default=120.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)
    loaded = random_loaded("vit_base_patch16_224", 224)
    tmp = Path(tempfile.mkdtemp(prefix="bench_atlas_"))
    try:
        index = synthetic_split(tmp / "dataset", args.images, args.distinct, args.classes, args.image_size, args.seed)
        ex = synthetic_exemplars(loaded.model, args.blocks, args.k, args.images, args.maps_top, args.bins,
                                 args.sample, index.short_names, args.seed)
        out = args.keep or tmp / "atlas"
        if out.exists():
            shutil.rmtree(out)
        opts = AtlasConfig()
        r = build(out, ex, index, loaded, opts)
        ov = r["overview"]
        n, thumbs = ov["features"], ov["thumbs"]
        cells = int(np.prod(loaded.model.patch_embed.grid_size))
        data_bytes = folder_bytes(out / "data")
        thumb_bytes = folder_bytes(out / "thumbs")
        render = first_render(out, "L0/ffn", args.render_timeout)
        report = {
            "features": n, "k": args.k, "images": args.images, "maps_top": args.maps_top, "sample": args.sample,
            "thumbnails": thumbs,
            "build_s": round(r["total"], 1),
            "build_s_per_1000_features": round(1000 * r["total"] / n, 2),
            "data_s_per_1000_features": round(1000 * r["data"] / n, 2),
            "thumbnail_s_per_1000_images": round(1000 * r["thumbs"] / max(thumbs, 1), 2),
            "bytes_per_feature": round(data_bytes / n, 1),
            "bytes_per_feature_by_file": ov["bytes_per_feature"],
            "bytes_per_thumbnail": round(thumb_bytes / max(thumbs, 1), 1),
            "budget_bytes_per_feature": round(feature_budget(args.k, args.maps_top, cells), 1),
            "budget_bytes_per_thumbnail": SIZE_BUDGET["thumbnail"],
            "atlas_mib": round((data_bytes + thumb_bytes) / 2**20, 1),
            "layer_page_L0_ffn": render,
        }
        print(json.dumps(report, indent=2))
        if (report["bytes_per_feature"] > report["budget_bytes_per_feature"]
                or report["bytes_per_thumbnail"] > SIZE_BUDGET["thumbnail"]):
            log.warning("over the size budget stated in vitviz/atlas/export.py: %s", SIZE_BUDGET)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
