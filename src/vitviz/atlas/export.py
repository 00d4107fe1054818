"""Write the atlas data: per-layer JavaScript shards (loaded lazily from file://), thumbnails stored once each,
activation maps as small integer arrays, and the feature images."""
from __future__ import annotations

import base64
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from vitviz.activations.kinds import KINDS
from vitviz.atlas.evidence import class_selectivity, related_features
from vitviz.atlas.settings import AtlasConfig
from vitviz.core.errors import ImageDecodeError
from vitviz.data.imagenet import DatasetIndex, load_rgb
from vitviz.exemplars.store import Exemplars

log = logging.getLogger(__name__)

CALLBACK = "vitvizAtlas"

# The size budget, stated (bytes, on disk). On average, a feature's data (its card; its shard entry: exemplar rows
# and statistics, uint8 maps as base64, histogram, related features; its share of overview and search) stays
# within `feature_base` plus `per_exemplar` for each of its k exemplars plus `per_map_cell` for each cell of its
# stored maps. An exemplar thumbnail (a JPEG of thumb_size 64 at quality 85, stored once however many features
# use it) stays within `thumbnail`. benchmarks/bench_atlas.py measures both at ViT-B/16 scale; tests/test_atlas.py
# holds the tiny atlas to them.
SIZE_BUDGET = {"feature_base": 512, "per_exemplar": 16, "per_map_cell": 1.4, "thumbnail": 4096}


def feature_budget(k: int, maps_top: int, cells: int) -> float:
    """Bytes a feature's data may take: k exemplars, maps_top stored maps of `cells` cells each."""
    b = SIZE_BUDGET
    return b["feature_base"] + b["per_exemplar"] * k + b["per_map_cell"] * maps_top * cells


def js_payload(name: str, data: dict) -> str:
    """A script that hands `data` to the page under `name` (file:// pages cannot fetch JSON, but can load scripts)."""
    return f"{CALLBACK}({json.dumps(name)},{json.dumps(data, separators=(',', ':'), allow_nan=False)});\n"


def quantize_map(m: torch.Tensor) -> tuple[str, float]:
    """A map (gh, gw) as base64 uint8 of its positive part over its maximum, and that maximum (0: nothing positive)."""
    m = torch.nan_to_num(m.float(), nan=0.0).clamp_min(0)
    top = float(m.max()) if m.numel() else 0.0
    q = (m / top * 255).round().to(torch.uint8) if top > 0 else torch.zeros_like(m, dtype=torch.uint8)
    return base64.b64encode(q.flatten().numpy().tobytes()).decode(), top


def _r(x: float, nd: int = 4) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


def _write(path: Path, name: str, data: dict) -> int:
    text = js_payload(name, data)
    path.write_text(text)
    return len(text.encode())


def write_thumbs(rows: list[int], index: DatasetIndex, split: str, crop, out_dir: Path, opts: AtlasConfig) -> set[int]:
    """One JPEG per distinct exemplar row: the model's crop at `thumb_size`; the rows that failed are returned."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = index.split(split)
    failed = set()
    for r in tqdm(rows, desc="thumbnails", unit="img", mininterval=2.0):
        try:
            x = crop(load_rgb(index.image_path(table["path"].iloc[r])))
        except ImageDecodeError as exc:
            log.warning("thumbnail of %s row %d skipped: %s", split, r, exc)
            failed.add(r)
            continue
        im = Image.fromarray(x.permute(1, 2, 0).numpy()).resize((opts.thumb_size, opts.thumb_size), Image.BICUBIC)
        im.save(out_dir / f"{r}.jpg", quality=opts.thumb_quality)
    return failed


def write_atlas_data(out_dir: str | Path, model_key: str, ex: Exemplars, features: pd.DataFrame | None,
                     recipe: dict | None, features_dir: Path | None, index: DatasetIndex, crop,
                     opts: AtlasConfig) -> dict:
    """Write data/, thumbs/ and vis/ under `out_dir`; return the overview (also written as data/overview.js)."""
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    split = ex.meta["split"]
    table = index.split(split)
    labels = table["label"].to_numpy()
    names, synonyms = index.short_names, list(index.names)
    rows_all = ex.indices.numpy()
    used = sorted({int(r) for r in np.unique(rows_all) if r >= 0})
    failed = write_thumbs(used, index, split, crop, out / "thumbs", opts)
    vis = {}
    if features is not None and features_dir is not None:
        (out / "vis").mkdir(exist_ok=True)
        for r in features.itertuples():
            name = Path(r.image).name
            shutil.copyfile(features_dir / r.image, out / "vis" / name)
            vis[(r.site, int(r.feature))] = {"img": f"vis/{name}", "seed": str(r.seed), "steps": int(r.steps),
                                             "obj": _r(r.objective_final), "obj0": _r(r.objective_start)}
    loc = {r.site: _r(r.top_share) for r in ex.locality.itertuples()}
    layers, search = [], []
    sizes = {"cards": 0, "features": 0}
    for s in tqdm(list(ex.sites.itertuples()), desc="atlas shards", unit="site"):
        cols = slice(int(s.offset), int(s.offset) + int(s.channels))
        rows = rows_all[:, cols]
        vals = ex.values[:, cols].numpy()
        top_cls, share = class_selectivity(rows, labels)
        rel, rel_v = related_features(rows, opts.related)
        maps = ex.maps.get(s.site)
        site_vis = [vis.get((s.site, f)) for f in range(int(s.channels))]
        clip = [ex.labels(s.site, f) for f in range(int(s.channels))]
        sid = f"L{int(s.layer)}_{s.kind}"
        cards = {"site": s.site, "f": list(range(int(s.channels))),
                 "vis": [v["img"] if v else None for v in site_vis],
                 "thumb": [int(rows[0, f]) if rows[0, f] >= 0 and int(rows[0, f]) not in failed else -1
                           for f in range(int(s.channels))],
                 "cls": top_cls.tolist(), "share": [round(float(x), 3) for x in share],
                 "clip": [c[0] if c else None for c in clip]}
        sizes["cards"] += _write(out / "data" / f"cards_{sid}.js", f"cards_{sid}", cards)
        shards = 0
        for start in range(0, int(s.channels), opts.shard_features):
            feats = []
            for f in range(start, min(start + opts.shard_features, int(s.channels))):
                keep = rows[:, f] >= 0
                fm, mx = [], []
                for j in range(maps.shape[1] if maps is not None else 0):
                    m = ex.map(s.site, f, j)
                    q, top = quantize_map(m) if m is not None else (None, 0.0)
                    fm.append(q)
                    mx.append(_r(top))
                counts, lo, hi = ex.histogram(s.site, f) or ([], float("nan"), float("nan"))
                feats.append({"f": f, "rows": [int(r) if int(r) not in failed else -1 for r in rows[keep, f]],
                              "vals": [_r(v) for v in vals[keep, f]], "maps": fm, "mapmax": mx,
                              "hist": counts, "lo": lo if np.isfinite(lo) else None,
                              "hi": hi if np.isfinite(hi) else None,
                              "related": [[int(a), round(float(b), 3)] for a, b in zip(rel[f], rel_v[f]) if a >= 0],
                              "clip": clip[f], "vis": site_vis[f]})
            sizes["features"] += _write(out / "data" / f"feat_{sid}_{shards}.js", f"feat_{sid}_{shards}",
                                        {"site": s.site, "start": start, "features": feats})
            shards += 1
        for f in range(int(s.channels)):
            search.append([len(layers), f, int(top_cls[f]), round(float(share[f]), 3), " ".join(clip[f])])
        grid = list(maps.shape[-2:]) if maps is not None else None
        layers.append({"id": sid, "site": s.site, "layer": int(s.layer), "kind": s.kind, "channels": int(s.channels),
                       "visualized": sum(v is not None for v in site_vis), "locality": loc.get(s.site),
                       "shards": shards, "grid": grid})
    _write(out / "data" / "search.js", "search", {"entries": search})
    n_feat = sum(int(c) for c in ex.sites["channels"])
    overview = {"model": model_key, "split": split, "stat": ex.meta["stat"], "k": int(ex.meta["k"]),
                "images": int(ex.meta["images"]), "hist_images": int(ex.meta["images"]), "maps_top": int(ex.meta.get("maps_top", 0)),
                "locality_fraction": ex.meta.get("locality_fraction"), "classes": names, "class_synonyms": synonyms,
                "layers": layers, "kinds": [k for k in KINDS if any(l["kind"] == k for l in layers)],
                "features": n_feat, "visualized": len(vis), "thumbs": len(used) - len(failed),
                "thumbs_skipped": len(failed), "thumb_size": opts.thumb_size, "shard_features": opts.shard_features,
                "related": opts.related, "recipe": recipe,
                "bytes_per_feature": {k: round(v / max(n_feat, 1), 1) for k, v in sizes.items()}}
    _write(out / "data" / "overview.js", "overview", overview)
    return overview
