"""Write the atlas data: per-layer JavaScript shards (loaded lazily from file://), thumbnails stored once each,
activation maps as small integer arrays, and the feature images."""
from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

from vitviz.activations.kinds import KIND_LABELS, KINDS
from vitviz.activations.mapnorm import JET, MAP_ALPHA
from vitviz.atlas.bands import BANDS, PER_BAND
from vitviz.atlas.feature_data import SiteEvidence, feature_entry, search_entries, site_cards, site_evidence
from vitviz.atlas.feature_data import quantize_map  # noqa: F401 (re-exported: the tests and benchmarks use it)
from vitviz.atlas.layers import features_of, layer_list
from vitviz.atlas.numbers import rnd
from vitviz.atlas.settings import AtlasConfig
from vitviz.atlas.visualised import copy_visualised
from vitviz.core.errors import ImageDecodeError
from vitviz.data.imagenet import DatasetIndex, load_rgb
from vitviz.exemplars.store import Exemplars
from vitviz.visualization.quality import RULE as IMAGE_RULE

log = logging.getLogger(__name__)

CALLBACK = "vitvizAtlas"

# The size budget, stated (bytes, on disk). On average, a feature's data (its card; its shard entry: top-k and
# minimising exemplar rows and statistics, the quantile bands' exemplars, uint8 maps as base64, histogram,
# density, logit effects, related features; its share of overview and search) stays within `feature_base` plus
# `per_exemplar` for each of its k top and k minimising exemplars plus `per_map_cell` for each cell of its stored
# maps. An exemplar thumbnail (a JPEG of thumb_size 64 at quality 85, stored once however many features use it)
# stays within `thumbnail`. benchmarks/bench_atlas.py measures both at ViT-B/16 scale; tests/test_atlas.py holds
# the tiny atlas to them.
SIZE_BUDGET = {"feature_base": 1024, "per_exemplar": 16, "per_map_cell": 1.4, "thumbnail": 4096}
ACTIVE_RULE = ("a feature is active on a patch token when its value there is above 0, and on an image when it is "
               "active on at least one of the image's patch tokens")


def feature_budget(k: int, maps_top: int, cells: int) -> float:
    """Bytes a feature's data may take: k top and k minimising exemplars, maps_top stored maps of `cells` cells."""
    b = SIZE_BUDGET
    return b["feature_base"] + b["per_exemplar"] * 2 * k + b["per_map_cell"] * maps_top * cells


def js_payload(name: str, data: dict) -> str:
    """A script that hands `data` to the page under `name` (file:// pages cannot fetch JSON, but can load scripts).
    '<', '>' and '&' are written as JSON escapes, so no data text can close the script or open markup."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"{CALLBACK}({json.dumps(name)},{text});\n"


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


def _shown(v: dict | None) -> dict | None:
    """A visualisation as the pages show it (without the fields that place it)."""
    return None if v is None else {k: v[k] for k in ("img", "seed", "steps", "obj0", "obj", "fail")}


def _locality(ex: Exemplars, site: str) -> float | None:
    row = ex.locality[ex.locality["site"] == site] if len(ex.locality) else ex.locality
    return rnd(float(row["top_share"].iloc[0])) if len(row) else None


def write_layer(out: Path, i: int, l: dict, ex: Exemplars, ev: SiteEvidence | None, vis: dict, scores: dict,
                failed: set[int], opts: AtlasConfig) -> tuple[dict, list, int, int]:
    """Write one layer's cards and feature shards; fill in the layer's counts; return (cards, search entries,
    bytes of cards, bytes of shards)."""
    feats = features_of(l)
    clip = {f: ex.labels(l["site"], f) for f in feats}
    shown = {f: _shown(vis.get((l["site"], f))) for f in feats}
    site_scores = {f: scores[(l["site"], f)] for f in feats if (l["site"], f) in scores}
    cards = site_cards(ex, ev, feats, shown, site_scores, clip, failed)
    card_bytes = _write(out / "data" / f"cards_{l['id']}.js", f"cards_{l['id']}", cards)
    shards: dict[int, list] = {}
    for f in feats:
        if ev is not None:
            e = feature_entry(ex, ev, f, failed, shown[f], site_scores.get(f), clip[f])
        else:                                   # visualised, not mined: the visualisation and its scores only
            e = {"f": f, "vis": shown[f], "score": site_scores.get(f), "clip": clip[f]}
        shards.setdefault(f // opts.shard_features if l["mined"] else 0, []).append(e)
    shard_bytes = sum(_write(out / "data" / f"feat_{l['id']}_{j}.js", f"feat_{l['id']}_{j}",
                             {"site": l["site"], "features": fs}) for j, fs in sorted(shards.items()))
    maps = ex.maps.get(l["site"])
    l.update({"shards": len(shards), "visualized": sum(v is not None for v in shown.values()),
              "failed": sum(1 for v in shown.values() if v and v["fail"]), "scored": len(site_scores),
              "grid": list(maps.shape[-2:]) if maps is not None else None, "locality": _locality(ex, l["site"])})
    return cards, search_entries(i, cards, clip), card_bytes, shard_bytes


def write_atlas_data(out_dir: str | Path, model_key: str, ex: Exemplars, features: pd.DataFrame | None,
                     recipe: dict | None, features_dir: Path | None, index: DatasetIndex, crop,
                     opts: AtlasConfig, scores: dict[tuple[str, int], dict] | None = None) -> dict:
    """Write data/, thumbs/ and vis/ under `out_dir`; return the overview (also written as data/overview.js),
    with the bytes per feature of each kind of data file."""
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    scores = scores or {}
    split = ex.meta["split"]
    labels = index.split(split)["label"].to_numpy()
    vis = copy_visualised(features, features_dir, out, scores) if features is not None and features_dir else {}
    layers = layer_list(ex, vis)
    sites = {s["site"]: s for _, s in ex.sites.iterrows()}
    evidence = {l["site"]: site_evidence(ex, sites[l["site"]], labels, opts.related)
                for l in tqdm(layers, desc="atlas evidence", unit="site") if l["mined"]}
    used = sorted(set().union(*[ev.used_rows() for ev in evidence.values()]))
    failed = write_thumbs(used, index, split, crop, out / "thumbs", opts)
    search, sizes = [], {"cards": 0, "features": 0}
    for i, l in enumerate(tqdm(layers, desc="atlas shards", unit="site")):
        _, entries, card_bytes, shard_bytes = write_layer(out, i, l, ex, evidence.get(l["site"]), vis, scores,
                                                          failed, opts)
        search += entries
        sizes["cards"] += card_bytes
        sizes["features"] += shard_bytes
    sizes["search"] = _write(out / "data" / "search.js", "search", {"entries": search})
    n_feat = sum(l["channels"] for l in layers if l["mined"])
    kinds = [k for k in KINDS if any(l["kind"] == k for l in layers)]
    overview = {"model": model_key, "split": split, "stat": ex.meta["stat"], "k": int(ex.meta["k"]),
                "images": int(ex.meta["images"]), "maps_top": int(ex.meta.get("maps_top", 0)),
                "locality_fraction": ex.meta.get("locality_fraction"), "classes": index.short_names,
                "class_synonyms": list(index.names), "layers": layers, "kinds": kinds,
                "kind_labels": {k: KIND_LABELS[k] for k in kinds}, "blocks": sorted({l["layer"] for l in layers}),
                "features": n_feat, "visualized": len(vis), "failed": sum(1 for v in vis.values() if v["fail"]),
                "scored": len([k for k in scores if k in vis]), "thumbs": len(used) - len(failed),
                "thumbs_skipped": len(failed), "thumb_size": opts.thumb_size, "shard_features": opts.shard_features,
                "related": opts.related, "recipe": recipe,
                "sample": int(len(ex.sample_rows)) if ex.sample_rows is not None else 0,
                "bands": [{"lo": lo, "hi": hi, "label": label} for lo, hi, label in BANDS], "per_band": PER_BAND,
                "active_rule": ACTIVE_RULE, "image_rule": IMAGE_RULE, "logit_classes": ex.logit_classes,
                "logit_note": ex.logit_note, "colormap": base64.b64encode(JET.tobytes()).decode(),
                "map_alpha": MAP_ALPHA}
    sizes["overview"] = _write(out / "data" / "overview.js", "overview", overview)
    overview["bytes_per_feature"] = {k: round(v / max(n_feat, 1), 1) for k, v in sizes.items()}
    return overview
