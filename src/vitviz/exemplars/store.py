"""Mined exemplars on disk: top-k and bottom-k tables, sites, raw activation maps, locality, histograms, activation
densities, the random sample's statistics, direct logit effects, and the run's settings."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import safetensors.torch
import torch

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitviz.exemplars.mining import MiningResult

TOPK, SITES, MAPS, META, LOCALITY = "topk.safetensors", "sites.csv", "maps.safetensors", "meta.json", "locality.csv"
CONCEPTS, HISTOGRAMS = "concepts.csv", "histograms.safetensors"
LOWEST, SAMPLE, DENSITY, LOGITS = "lowest.safetensors", "sample.safetensors", "density.safetensors", \
    "logit_effects.safetensors"
FP16_MAX = 65504.0


def _by_site(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """{'site/part': t} as {site: {part: t}}."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        site, part = name.rsplit("/", 1)
        out.setdefault(site, {})[part] = t
    return out


def _flat(by_site: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {f"{site}/{part}": t.contiguous() for site, parts in by_site.items() for part, t in parts.items()}


def write_exemplars(result: MiningResult, maps: dict[str, torch.Tensor], locality: pd.DataFrame,
                    out_dir: str | Path, meta: dict, concepts: pd.DataFrame | None = None,
                    logits: tuple[dict[str, dict[str, torch.Tensor]], list[str], str] | None = None) -> None:
    """Write the mining result, its maps, locality, (for CLIP models) concept labels and the direct logit effects
    (per site tensors, the head's class names, a note of what has none) into `out_dir`. The sample's statistics
    are stored in fp16 (clamped to its range): they serve ranks, quantile bands and correlations."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({"values": result.values.contiguous(), "indices": result.indices.contiguous()},
                                str(out_dir / TOPK))
    offs = result.offsets()
    pd.DataFrame([{"site": s.name, "kind": s.kind, "layer": s.layer, "offset": offs[s.name],
                   "channels": s.channels, "spatial": s.spatial} for s in result.sites]).to_csv(out_dir / SITES,
                                                                                              index=False)
    safetensors.torch.save_file({k: v.half().contiguous() for k, v in maps.items()}, str(out_dir / MAPS))
    safetensors.torch.save_file(_flat(result.histograms), str(out_dir / HISTOGRAMS))
    if result.low_values is not None:
        safetensors.torch.save_file({"values": result.low_values.contiguous(),
                                     "indices": result.low_indices.contiguous()}, str(out_dir / LOWEST))
    if result.density:
        safetensors.torch.save_file(_flat(result.density), str(out_dir / DENSITY))
    if result.sample_rows is not None:
        v = result.sample_values.clamp(-FP16_MAX, FP16_MAX).half()
        safetensors.torch.save_file({"rows": result.sample_rows.contiguous(), "values": v.contiguous()},
                                    str(out_dir / SAMPLE))
    if logits is not None:
        effects, classes, note = logits
        # one metadata key: safetensors writes several in no fixed order, and the file must be byte-identical
        safetensors.torch.save_file(_flat(effects) or {"none": torch.zeros(0)}, str(out_dir / LOGITS),
                                    metadata={"info": json.dumps({"classes": classes, "note": note})})
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
    low_values: torch.Tensor | None = None         # (k, total): the minimising images, lowest first
    low_indices: torch.Tensor | None = None
    density: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)      # site -> images, patches, totals
    sample_rows: torch.Tensor | None = None        # (n,) split rows of the random sample
    sample_values: torch.Tensor | None = None      # (n, total), fp16
    logit_effects: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # site -> up, up_value, ...
    logit_classes: list[str] = field(default_factory=list)
    logit_note: str = ""

    def column(self, site: str) -> int | None:
        """The first column of a site in the tables, or None when it was not mined."""
        row = self.sites[self.sites["site"] == site]
        return None if row.empty else int(row["offset"].iloc[0])

    def lowest(self, site: str, feature: int) -> tuple[list[int], list[float]]:
        """Split rows and statistics of a feature's minimising images, lowest first (empty when none were kept)."""
        col = self.column(site)
        if col is None or self.low_indices is None:
            return [], []
        c = col + feature
        pairs = [(int(i), float(v)) for i, v in zip(self.low_indices[:, c], self.low_values[:, c]) if i >= 0]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def density_of(self, site: str, feature: int) -> tuple[float, float] | None:
        """The share of images and the share of patch tokens on which the feature is active (None: not counted)."""
        d = self.density.get(site)
        if d is None or int(d["totals"][0]) == 0:
            return None
        return (float(d["images"][feature]) / float(d["totals"][0]),
                float(d["patches"][feature]) / float(d["totals"][1]))

    def sampled(self, site: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The random sample's split rows (n,) and a site's statistics on them (n, channels) in fp32, or None."""
        col = self.column(site)
        if col is None or self.sample_rows is None:
            return None
        channels = int(self.sites.loc[self.sites["site"] == site, "channels"].iloc[0])
        return self.sample_rows, self.sample_values[:, col:col + channels].float()

    def logits(self, site: str, feature: int) -> dict[str, list] | None:
        """The classes (names) whose logits the feature raises and lowers most, with the effects; None if none."""
        e = self.logit_effects.get(site)
        if e is None:
            return None
        name = (lambda i: self.logit_classes[i] if i < len(self.logit_classes) else f"class {i}")
        return {d: [[name(int(i)), float(v)] for i, v in zip(e[d][feature], e[f"{d}_value"][feature])]
                for d in ("up", "down")}

    def top(self, site: str, feature: int) -> tuple[list[int], list[float]]:
        """Split rows and statistics of a feature's exemplars, best first (missing ones dropped)."""
        col = self.column(site)
        if col is None:
            return [], []
        col += feature
        pairs = [(int(i), float(v)) for i, v in zip(self.indices[:, col], self.values[:, col]) if i >= 0]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def labels(self, site: str, feature: int) -> list[str]:
        """The feature's CLIP concept labels, best first (empty when none were computed)."""
        return self._labels.get((site, feature), [])

    @cached_property
    def _labels(self) -> dict[tuple[str, int], list[str]]:
        """Every feature's labels, indexed once (a lookup per feature would scan the whole table each time)."""
        if self.concepts is None:
            return {}
        cols = [c for c in self.concepts.columns if c.startswith("label_")]
        return {(str(site), int(f)): [str(v) for v in labels] for site, f, *labels in
                self.concepts[["site", "feature", *cols]].itertuples(index=False)}

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
    ex = Exemplars(pd.read_csv(out_dir / SITES), t["values"], t["indices"],
                   safetensors.torch.load_file(str(out_dir / MAPS)), pd.read_csv(out_dir / LOCALITY),
                   json.loads((out_dir / META).read_text()), concepts,
                   _by_site(safetensors.torch.load_file(str(out_dir / HISTOGRAMS))))
    if (out_dir / LOWEST).exists():
        low = safetensors.torch.load_file(str(out_dir / LOWEST))
        ex.low_values, ex.low_indices = low["values"], low["indices"]
    if (out_dir / DENSITY).exists():
        ex.density = _by_site(safetensors.torch.load_file(str(out_dir / DENSITY)))
    if (out_dir / SAMPLE).exists():
        s = safetensors.torch.load_file(str(out_dir / SAMPLE))
        ex.sample_rows, ex.sample_values = s["rows"], s["values"]
    if (out_dir / LOGITS).exists():
        with safetensors.safe_open(str(out_dir / LOGITS), "pt") as f:
            info = f.metadata() or {}
        tensors = safetensors.torch.load_file(str(out_dir / LOGITS))
        ex.logit_effects = _by_site({n: t for n, t in tensors.items() if "/" in n})
        info = json.loads(info.get("info", "{}"))
        ex.logit_classes, ex.logit_note = info.get("classes", []), info.get("note", "")
    return ex
