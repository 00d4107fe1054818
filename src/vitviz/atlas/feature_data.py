"""What the pages show of each feature of a mined site: its evidence, its shard entry and its card."""
from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vitviz.activations.mapnorm import normalize_map
from vitviz.atlas.bands import BANDS, band_exemplars
from vitviz.atlas.evidence import class_selectivity, related_features, shared_exemplars
from vitviz.atlas.numbers import rnd, shown_rows
from vitviz.exemplars.store import Exemplars


@dataclass
class SiteEvidence:
    """The evidence of one mined site, gathered before thumbnails are written (they need every row used)."""
    site: str
    rows: np.ndarray          # (k, channels) top-k split rows (-1: missing)
    vals: np.ndarray
    low_rows: np.ndarray      # (k', channels) minimising rows, lowest first (k' = 0 when not mined)
    low_vals: np.ndarray
    bands: list               # per feature, per band: (rows, values)
    modal: tuple              # class, count, present (each (channels,))
    related: tuple            # indices, correlations (channels, related)

    def used_rows(self) -> set[int]:
        """Every split row shown for this site."""
        used = {int(r) for r in np.unique(np.concatenate([self.rows.ravel(), self.low_rows.ravel()])) if r >= 0}
        return used | {r for bands in self.bands for rows, _ in bands for r in rows}


def site_evidence(ex: Exemplars, s: pd.Series, labels: np.ndarray, related: int) -> SiteEvidence:
    """The top-k, minimising and band exemplars, modal classes and `related` related features of one mined site."""
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
        rel = related_features(sampled[1], related)
    else:
        bands = [[([], []) for _ in BANDS] for _ in range(n)]
        rel = (np.full((n, 0), -1), np.zeros((n, 0)))
    return SiteEvidence(s["site"], rows, vals, low_rows, low_vals, bands, class_selectivity(rows, labels), rel)


def quantize_map(m) -> tuple[str, float]:
    """A map (gh, gw) as base64 of its uint8 levels (mapnorm.normalize_map: the positive part over the maximum),
    and that maximum (0: nothing positive)."""
    q, top = normalize_map(m)
    return base64.b64encode(q.flatten().numpy().tobytes()).decode(), top


def logit_entry(ex: Exemplars, site: str, f: int) -> dict | None:
    """The classes a feature raises (positive effects) and lowers (negative ones), as [class, effect] pairs."""
    e = ex.logit_effects.get(site)
    if e is None:
        return None
    return {"up": [[int(i), rnd(float(v), 5)] for i, v in zip(e["up"][f], e["up_value"][f]) if v > 0],
            "down": [[int(i), rnd(float(v), 5)] for i, v in zip(e["down"][f], e["down_value"][f]) if v < 0]}


def feature_entry(ex: Exemplars, ev: SiteEvidence, f: int, failed: set[int], vis: dict | None, score: dict | None,
                  clip: list[str]) -> dict:
    """One feature's shard entry: every number its page shows."""
    keep, lkeep = ev.rows[:, f] >= 0, ev.low_rows[:, f] >= 0
    maps = ex.maps.get(ev.site)
    fm, mx = [], []
    for j in range(maps.shape[1] if maps is not None else 0):
        m = ex.map(ev.site, f, j)
        q, top = quantize_map(m) if m is not None else (None, 0.0)
        fm.append(q)
        mx.append(rnd(top))
    hist = ex.histogram(ev.site, f)
    counts, lo, hi = hist if hist is not None else ([], float("nan"), float("nan"))
    rel, r = ev.related[0][f], ev.related[1][f]
    rel_ok = rel[rel >= 0]
    dens = ex.density_of(ev.site, f)
    return {"f": f, "rows": shown_rows(ev.rows[keep, f], failed), "vals": [rnd(v) for v in ev.vals[keep, f]],
            "low": shown_rows(ev.low_rows[lkeep, f], failed), "lowv": [rnd(v) for v in ev.low_vals[lkeep, f]],
            "bands": [[shown_rows(b[0], failed), [rnd(v) for v in b[1]]] for b in ev.bands[f]],
            "maps": fm, "mapmax": mx, "hist": counts, "lo": rnd(lo, 6), "hi": rnd(hi, 6),
            "dens": None if dens is None else [rnd(dens[0]), rnd(dens[1])],
            "dla": logit_entry(ex, ev.site, f),
            "related": [[int(g), rnd(x, 3), n] for g, x, n in
                        zip(rel_ok, r[rel >= 0], shared_exemplars(ev.rows, f, rel_ok))],
            "clip": clip, "vis": vis, "score": score}


def card_score(score: dict | None) -> list | None:
    """A card's scores: [activation ratio, selectivity, MIS with visualisations] (None: not scored)."""
    if not score:
        return None
    return [rnd(score.get("ratio"), 3), rnd(score.get("sel"), 3), rnd(score.get("mis_v"), 3)]


def site_cards(ex: Exemplars, ev: SiteEvidence | None, feats: list[int], vis: dict, scores: dict, clip: dict,
               failed: set[int]) -> dict:
    """The layer page's cards of one site, column by column: visualisation and its failure, the first CLIP label
    and the scores; for a mined site also the top exemplar's row, the modal class with its count and the number of
    exemplars, the image and patch densities, and whether it never fired (from the counts, not the rounded share)."""
    cards = {"f": list(feats), "vis": [vis[f]["img"] if vis[f] else None for f in feats],
             "fail": [vis[f]["fail"] if vis[f] else None for f in feats],
             "clip": [clip[f][0] if clip[f] else None for f in feats],
             "score": [card_score(scores.get(f)) for f in feats]}
    if ev is not None:
        cls, count, present = ev.modal
        dens = [ex.density_of(ev.site, f) for f in feats]
        cards.update({"thumb": [shown_rows(ev.rows[:1, f], failed)[0] for f in feats], "cls": cls.tolist(),
                      "n": count.tolist(), "m": present.tolist(), "di": [rnd(d[0], 3) if d else None for d in dens],
                      "dp": [rnd(d[1], 3) if d else None for d in dens], "nv": [int(bool(d) and d[0] == 0) for d in dens]})
    return cards


def search_entries(layer_index: int, cards: dict, clip: dict) -> list[list]:
    """Per feature of a layer: [layer, feature, modal class, its share, its count, CLIP words, thumbnail row,
    visualisation, never active (1/0)], what search matches and shows."""
    out = []
    mined = "cls" in cards
    for j, f in enumerate(cards["f"]):
        n, m = (cards["n"][j], cards["m"][j]) if mined else (0, 0)
        out.append([layer_index, f, int(cards["cls"][j]) if mined else -1, round(n / m, 3) if m else 0.0, int(n),
                    " ".join(clip[f]), cards["thumb"][j] if mined else -1, cards["vis"][j],
                    cards["nv"][j] if mined else 0])
    return out
