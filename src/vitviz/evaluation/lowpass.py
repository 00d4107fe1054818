"""Low-pass filtering (paper Fig. 16; the authors' code has none, so the filter is ours and documented):
an ideal circular 2-D FFT low-pass per channel on the [0, 1] pixels of the preprocessed crop, before
normalisation. The cutoff is in cycles per image of the crop by default (the same image content for every model,
whatever its input size), or a fraction of the crop's Nyquist frequency (0.5 cycles per pixel); a Gaussian
filter is an option.
The filtered crop is clamped back to [0, 1] (the ringing of an ideal filter leaves it) before normalisation."""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.loop import classified_rows, count_hits, label_map, topk_hits
from vitviz.models.store import LoadedModel, normalize

log = logging.getLogger(__name__)
CORNER = math.sqrt(2.0)  # the corner of the spectrum, as a fraction of Nyquist
UNITS = ("cycles_per_image", "fraction_of_nyquist")


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unknown low-pass unit {unit!r}; use one of {', '.join(UNITS)}")


def radial_frequency(h: int, w: int, device=None, unit: str = "cycles_per_image") -> torch.Tensor:
    """(H, W) distance of each FFT bin from zero frequency, in cycles per image or as a fraction of Nyquist."""
    _check_unit(unit)
    fy = torch.fft.fftfreq(h, device=device).view(-1, 1)
    fx = torch.fft.fftfreq(w, device=device).view(1, -1)
    if unit == "cycles_per_image":
        return torch.sqrt((fy * h) ** 2 + (fx * w) ** 2)
    return torch.sqrt(fy ** 2 + fx ** 2) / 0.5


def corner(h: int, w: int, unit: str = "cycles_per_image") -> float:
    """The radius of the spectrum's corner (the highest frequency of an H x W crop) in `unit`."""
    return math.hypot(h / 2, w / 2) if unit == "cycles_per_image" else CORNER


def lowpass(x: torch.Tensor, cutoff: float, kind: str = "ideal", unit: str = "fraction_of_nyquist") -> torch.Tensor:
    """Low-pass each channel of images (..., H, W): keep frequencies up to `cutoff` (in `unit`).

    ideal: bins with radius <= cutoff kept, the rest removed; a cutoff at or above the spectrum's corner is the
    identity. gaussian: the spectrum is multiplied by exp(-r^2 / (2 cutoff^2)).
    """
    _check_unit(unit)
    h, w = x.shape[-2], x.shape[-1]
    if kind == "ideal" and cutoff >= corner(h, w, unit):
        return x
    r = radial_frequency(h, w, x.device, unit)
    gain = ((r <= cutoff * (1 + 1e-9)).to(x.dtype) if kind == "ideal"
            else torch.exp(-(r ** 2) / (2 * cutoff ** 2)).to(x.dtype))
    return torch.fft.ifft2(torch.fft.fft2(x) * gain).real


def normalized_auc(cutoffs: list[float], acc: list[float], clean: float) -> float:
    """Area under accuracy vs cutoff (trapezoids, cutoffs ascending) over the area of a flat clean curve."""
    c = np.asarray(cutoffs, float)
    a = np.asarray(acc, float)
    order = np.argsort(c)
    c, a = c[order], a[order]
    if len(c) < 2 or clean <= 0:
        return float("nan")
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
    return float(trapezoid(a, c) / (clean * (c[-1] - c[0])))


@torch.no_grad()
def lowpass_eval(loaded: LoadedModel, index: DatasetIndex, split: str, cutoffs: list[float], kind: str = "ideal",
                 limit: int = 0, batch_size: int = 64, device: str | torch.device = "cpu",
                 unit: str = "fraction_of_nyquist") -> dict:
    """Top-1 and top-5 per cutoff (in `unit`; the params default to cycles per image) and clean, each image
    decoded once and all its variants batched."""
    spec = loaded.spec
    rows = classified_rows(index, split, limit, label_map(index.wnids, spec.class_wnids))
    levels = [None] + list(cutoffs)

    def score(b, t):
        variants = torch.cat([b.x if c is None else lowpass(b.x, c, kind, unit=unit).clamp(0, 1) for c in levels])  # level-major
        logits = loaded.classify(normalize(variants, spec)).view(len(levels), len(b), -1)
        return torch.stack([topk_hits(logits[j], t) for j in range(len(levels))])

    hits, seen, skipped = count_hits(loaded, index, split, rows, max(1, batch_size // len(levels)), device, score,
                                     (len(levels), 2), unit=True, desc=f"low-pass eval {spec.key}")
    correct = {c: {1: c1, 5: c5} for c, (c1, c5) in zip(levels, hits.tolist())}
    acc = lambda c, k: 100.0 * correct[c][k] / max(seen, 1)  # noqa: E731
    curve = [{"cutoff": c, "top1": acc(c, 1), "top5": acc(c, 5)} for c in cutoffs]
    clean = acc(None, 1)
    return {"split": split, "filter": kind, "unit": unit, "crop": list(spec.input_size[-2:]), "images": seen, "skipped": skipped, "clean_top1": clean,
            "chance_top1": 100.0 / max(spec.num_classes, 1),
            "clean_top5": acc(None, 5), "curve": curve,
            "auc_normalized": normalized_auc(list(cutoffs), [p["top1"] for p in curve], clean)}
