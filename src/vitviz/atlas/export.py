"""Write the atlas data: per-layer JavaScript shards (loaded lazily from file://), thumbnails stored once each,
activation maps as small integer arrays, and the feature images."""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from vitviz.activations.kinds import KIND_LABELS, KINDS
from vitviz.activations.mapnorm import JET, MAP_ALPHA, normalize_map
from vitviz.atlas.bands import BANDS, PER_BAND, band_exemplars
from vitviz.atlas.evidence import class_selectivity, related_features, shared_exemplars
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


def quantize_map(m: torch.Tensor) -> tuple[str, float]:
    """A map (gh, gw) as base64 of its uint8 levels (mapnorm.normalize_map: the positive part over the maximum),
    and that maximum (0: nothing positive)."""
    q, top = normalize_map(m)
    return base64.b64encode(q.flatten().numpy().tobytes()).decode(), top


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


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


@dataclass
class SiteEvidence:
    """What the pages show of one mined site, before thumbnails are written (they need every row used)."""
    site: pd.Series
    rows: np.ndarray          # (k, channels) top-k split rows
    vals: np.ndarray
    low_rows: np.ndarray      # (k', channels) minimising rows, lowest first (k' = 0 when not mined)
    low_vals: np.ndarray
    bands: list               # per feature, per band: (rows, values)
    modal: tuple              # class, count, present (each (channels,))
    related: tuple            # indices, correlations (channels, related)

    def used_rows(self) -> set[int]:
        used = {int(r) for r in np.unique(np.concatenate([self.rows.ravel(), self.low_rows.ravel()])) if r >= 0}
        return used | {r for bands in self.bands for rows, _ in bands for r in rows}


def site_evidence(ex: Exemplars, s: pd.Series, labels: np.ndarray, opts: AtlasConfig) -> SiteEvidence:
    """The top-k, minimising and band exemplars, modal classes and related features of one mined site."""
    c0, n = int(s["offset"]), int(s["channels"])
    rows, vals = ex.indices[:, c0:c0 + n].numpy(), ex.values[:, c0:c0 + n].numpy()
    if ex.low_indices is not None:
        low_rows, low_vals = ex.low_indices[:, c0:c0 + n].numpy(), ex.low_values[:, c0:c0 + n].numpy()
    else:
        low_rows, low_vals = np.zeros((0, n), np.int64), np.zeros((0, n))
    sampled = ex.sampled(s["site"])
    if sampled is not None and len(sampled[0]):
        srows, svals = sampled[0].numpy(), sampled[1].numpy()
        bands = [band_exemplars(srows, svals[:, f]) for f in range(n)]
        related = related_features(sampled[1], opts.related)
    else:
        bands = [[([], []) for _ in BANDS] for _ in range(n)]
        related = (np.full((n, 0), -1), np.zeros((n, 0)))
    return SiteEvidence(s, rows, vals, low_rows, low_vals, bands, class_selectivity(rows, labels), related)


def _rows(rows, failed: set[int]) -> list[int]:
    return [int(r) if int(r) not in failed else -1 for r in rows]


def feature_entry(ex: Exemplars, ev: SiteEvidence, f: int, failed: set[int], vis: dict | None, score: dict | None,
                  clip: list[str]) -> dict:
    """One feature's shard entry: every number its page shows."""
    site = ev.site["site"]
    keep, lkeep = ev.rows[:, f] >= 0, ev.low_rows[:, f] >= 0
    maps = ex.maps.get(site)
    fm, mx = [], []
    for j in range(maps.shape[1] if maps is not None else 0):
        m = ex.map(site, f, j)
        q, top = quantize_map(m) if m is not None else (None, 0.0)
        fm.append(q)
        mx.append(_r(top))
    hist = ex.histogram(site, f)
    counts, lo, hi = hist if hist is not None else ([], float("nan"), float("nan"))
    rel, r = ev.related[0][f], ev.related[1][f]
    rel_ok = rel[rel >= 0]
    dens = ex.density_of(site, f)
    return {"f": f, "rows": _rows(ev.rows[keep, f], failed), "vals": [_r(v) for v in ev.vals[keep, f]],
            "low": _rows(ev.low_rows[lkeep, f], failed), "lowv": [_r(v) for v in ev.low_vals[lkeep, f]],
            "bands": [[_rows(b[0], failed), [_r(v) for v in b[1]]] for b in ev.bands[f]],
            "maps": fm, "mapmax": mx, "hist": counts, "lo": _r(lo, 6), "hi": _r(hi, 6),
            "dens": None if dens is None else [_r(dens[0]), _r(dens[1])],
            "dla": _logits(ex, site, f),
            "related": [[int(g), _r(x, 3), n] for g, x, n in
                        zip(rel_ok, r[rel >= 0], shared_exemplars(ev.rows, f, rel_ok))],
            "clip": clip, "vis": vis, "score": score}


def _logits(ex: Exemplars, site: str, f: int) -> dict | None:
    e = ex.logit_effects.get(site)
    if e is None:
        return None
    return {"up": [[int(i), _r(float(v), 5)] for i, v in zip(e["up"][f], e["up_value"][f]) if v > 0],
            "down": [[int(i), _r(float(v), 5)] for i, v in zip(e["down"][f], e["down_value"][f]) if v < 0]}


def _shown(v: dict | None) -> dict | None:
    """A visualisation as the pages show it (without the fields that place it)."""
    return None if v is None else {k: v[k] for k in ("img", "seed", "steps", "obj0", "obj", "fail")}


def _card_score(score: dict | None) -> list | None:
    if not score:
        return None
    return [_r(score.get("ratio"), 3) if score.get("ratio") is not None else None,
            _r(score.get("sel"), 3) if score.get("sel") is not None else None,
            _r(score.get("mis_v"), 3) if score.get("mis_v") is not None else None]


def layer_list(ex: Exemplars, vis: dict) -> list[dict]:
    """The atlas's layers: every mined site, then every visualised site that was not mined (its visualisations
    only), in block then kind order."""
    out = [{"site": s.site, "layer": int(s.layer), "kind": s.kind, "channels": int(s.channels), "mined": True}
           for s in ex.sites.itertuples()]
    mined = {l["site"] for l in out}
    extra = {}
    for (site, f), v in vis.items():
        if site not in mined:
            extra.setdefault(site, {"site": site, "layer": v["layer"], "kind": v["kind"], "channels": None,
                                    "mined": False, "only": []})["only"].append(f)
    for e in extra.values():
        e["only"].sort()
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(out + list(extra.values()), key=lambda l: (l["layer"], order.get(l["kind"], len(order)),
                                                             l["site"]))


def write_atlas_data(out_dir: str | Path, model_key: str, ex: Exemplars, features: pd.DataFrame | None,
                     recipe: dict | None, features_dir: Path | None, index: DatasetIndex, crop,
                     opts: AtlasConfig, scores: dict[tuple[str, int], dict] | None = None) -> dict:
    """Write data/, thumbs/ and vis/ under `out_dir`; return the overview (also written as data/overview.js)."""
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    scores = scores or {}
    split = ex.meta["split"]
    labels = index.split(split)["label"].to_numpy()
    vis = copy_visualised(features, features_dir, out, scores) if features is not None and features_dir else {}
    layers = layer_list(ex, vis)
    sites = {s.site: s for _, s in ex.sites.iterrows()}
    evidence = {l["site"]: site_evidence(ex, sites[l["site"]], labels, opts)
                for l in tqdm(layers, desc="atlas evidence", unit="site") if l["mined"]}
    used = sorted(set().union(*[ev.used_rows() for ev in evidence.values()]))
    failed = write_thumbs(used, index, split, crop, out / "thumbs", opts)
    search, sizes = [], {"cards": 0, "features": 0}
    for i, l in enumerate(tqdm(layers, desc="atlas shards", unit="site")):
        l["id"] = f"L{l['layer']}_{l['kind']}"
        feats = range(l["channels"]) if l["mined"] else l["only"]
        ev = evidence.get(l["site"])
        clip = {f: ex.labels(l["site"], f) for f in feats}
        sv = {f: _shown(vis.get((l["site"], f))) for f in feats}
        cards = {"f": list(feats), "vis": [v["img"] if v else None for v in sv.values()],
                 "fail": [v["fail"] if v else None for v in sv.values()],
                 "clip": [c[0] if c else None for c in clip.values()],
                 "score": [_card_score(scores.get((l["site"], f))) for f in feats]}
        if ev is not None:
            cls, count, present = ev.modal
            dens = [ex.density_of(l["site"], f) for f in feats]
            cards.update({"thumb": [_rows(ev.rows[:1, f], failed)[0] for f in feats], "cls": cls.tolist(),
                          "n": count.tolist(), "m": present.tolist(),
                          "di": [_r(d[0], 3) if d else None for d in dens],
                          "dp": [_r(d[1], 3) if d else None for d in dens]})
        sizes["cards"] += _write(out / "data" / f"cards_{l['id']}.js", f"cards_{l['id']}", cards)
        shard_of, entries = {}, []
        for f in feats:
            if ev is not None:
                e = feature_entry(ex, ev, f, failed, sv[f], scores.get((l["site"], f)), clip[f])
            else:
                e = {"f": f, "vis": sv[f], "score": scores.get((l["site"], f)), "clip": clip[f]}
            shard_of.setdefault(f // opts.shard_features if l["mined"] else 0, []).append(e)
        for j, fs in sorted(shard_of.items()):
            name = f"feat_{l['id']}_{j}"
            sizes["features"] += _write(out / "data" / f"{name}.js", name, {"site": l["site"], "features": fs})
        l["shards"] = len(shard_of)
        l["visualized"] = sum(v is not None for v in sv.values())
        l["failed"] = sum(1 for v in sv.values() if v and v["fail"])
        l["scored"] = sum(1 for f in feats if (l["site"], f) in scores)
        l["label"] = KIND_LABELS.get(l["kind"], l["kind"])
        maps = ex.maps.get(l["site"])
        l["grid"] = list(maps.shape[-2:]) if maps is not None else None
        loc = ex.locality[ex.locality["site"] == l["site"]] if len(ex.locality) else ex.locality
        l["locality"] = _r(float(loc["top_share"].iloc[0]), 4) if len(loc) else None
        for j, f in enumerate(feats):
            c = cards.get("cls", [-1] * len(cards["f"]))[j]
            share = cards["n"][j] / cards["m"][j] if ev is not None and cards["m"][j] else 0.0
            t = cards["thumb"][j] if ev is not None else -1
            dead = int(ev is not None and cards["di"][j] == 0)
            search.append([i, f, int(c), round(share, 3), int(cards["n"][j]) if ev is not None else 0,
                           " ".join(clip[f]), t, cards["vis"][j], dead])
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
