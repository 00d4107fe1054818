"""Mined exemplars on disk: top-k tables, sites, raw activation maps, locality, and the run's settings."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import safetensors.torch
import torch

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitviz.exemplars.mining import MiningResult

TOPK, SITES, MAPS, META, LOCALITY = "topk.safetensors", "sites.csv", "maps.safetensors", "meta.json", "locality.csv"
CONCEPTS, HISTOGRAMS = "concepts.csv", "histograms.safetensors"


def write_exemplars(result: MiningResult, maps: dict[str, torch.Tensor], locality: pd.DataFrame,
                    out_dir: str | Path, meta: dict, concepts: pd.DataFrame | None = None) -> None:
    """Write the mining result, its maps, locality and (for CLIP models) concept labels into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({"values": result.values.contiguous(), "indices": result.indices.contiguous()},
                                str(out_dir / TOPK))
    offs = result.offsets()
    pd.DataFrame([{"site": s.name, "kind": s.kind, "layer": s.layer, "offset": offs[s.name],
                   "channels": s.channels, "spatial": s.spatial} for s in result.sites]).to_csv(out_dir / SITES,
                                                                                              index=False)
    safetensors.torch.save_file({k: v.half().contiguous() for k, v in maps.items()}, str(out_dir / MAPS))
    safetensors.torch.save_file({f"{site}/{name}": t.contiguous() for site, h in result.histograms.items()
                                 for name, t in h.items()}, str(out_dir / HISTOGRAMS))
    locality.to_csv(out_dir / LOCALITY, index=False)
    if concepts is not None:
        concepts.to_csv(out_dir / CONCEPTS, index=False)
    (out_dir / META).write_text(json.dumps({"split": result.split, "stat": result.stat, "k": result.values.shape[0],
                                            "images": result.images, "skipped": result.skipped, **meta},
                                           indent=2) + "\n")


@dataclass
class Exemplars:
    """Mined exemplars read back from disk."""
    sites: pd.DataFrame
    values: torch.Tensor
    indices: torch.Tensor
    maps: dict[str, torch.Tensor]
    locality: pd.DataFrame
    meta: dict
    concepts: pd.DataFrame | None = None
    histograms: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)   # site -> counts, edge, width

    def top(self, site: str, feature: int) -> tuple[list[int], list[float]]:
        """Split rows and statistics of a feature's exemplars, best first (missing ones dropped)."""
        row = self.sites[self.sites["site"] == site]
        if row.empty:
            return [], []
        col = int(row["offset"].iloc[0]) + feature
        pairs = [(int(i), float(v)) for i, v in zip(self.indices[:, col], self.values[:, col]) if i >= 0]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def labels(self, site: str, feature: int) -> list[str]:
        """The feature's CLIP concept labels, best first (empty when none were computed)."""
        if self.concepts is None:
            return []
        row = self.concepts[(self.concepts["site"] == site) & (self.concepts["feature"] == feature)]
        return [str(row[c].iloc[0]) for c in row.columns if c.startswith("label_")] if len(row) else []

    def histogram(self, site: str, feature: int) -> tuple[list[int], float, float] | None:
        """The feature's histogram over the mined split, trimmed to its occupied bins: (counts, lo, hi), the counts
        on equal bins from lo to hi; None when mining stored none."""
        h = self.histograms.get(site)
        if h is None:
            return None
        counts = h["counts"][feature]
        nz = counts.nonzero().flatten()
        if not len(nz):
            return [], float("nan"), float("nan")
        a, b = int(nz[0]), int(nz[-1]) + 1
        edge, width = float(h["edge"][feature]), float(h["width"][feature])
        return counts[a:b].tolist(), edge + a * width, edge + b * width

    def map(self, site: str, feature: int, rank: int = 0) -> torch.Tensor | None:
        """The activation map (gh, gw) of a feature on its rank-th exemplar, if stored."""
        m = self.maps.get(site)
        if m is None or rank >= m.shape[1] or torch.isnan(m[feature, rank]).all():
            return None
        return m[feature, rank].float()


def read_exemplars(out_dir: str | Path) -> Exemplars:
    """Load what `write_exemplars` wrote."""
    out_dir = Path(out_dir)
    t = safetensors.torch.load_file(str(out_dir / TOPK))
    concepts = pd.read_csv(out_dir / CONCEPTS, keep_default_na=False) if (out_dir / CONCEPTS).exists() else None
    hists: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in safetensors.torch.load_file(str(out_dir / HISTOGRAMS)).items():
        site, part = name.rsplit("/", 1)
        hists.setdefault(site, {})[part] = tensor
    return Exemplars(pd.read_csv(out_dir / SITES), t["values"], t["indices"],
                     safetensors.torch.load_file(str(out_dir / MAPS)), pd.read_csv(out_dir / LOCALITY),
                     json.loads((out_dir / META).read_text()), concepts, hists)
