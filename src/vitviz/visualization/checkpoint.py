"""Resumable visualisation: each finished feature is kept in a cache folder keyed by the recipe's hash, so that a
killed run redoes none of them and results of two recipes never mix."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vitviz.core.distributed import context
from vitviz.models.store import LoadedModel, sha256_file
from vitviz.visualization.optimize import FeatureResult, Target, visualize
from vitviz.visualization.settings import VisSettings

log = logging.getLogger(__name__)


file_digest = sha256_file  # the weights' digest in the recipe hash


# The code that decides a feature's image: a change to any of it starts a new cache, like a change of recipe.
CODE = ("visualization/optimize.py", "visualization/augment.py", "visualization/objectives.py",
        "visualization/settings.py", "activations/hooks.py", "activations/sites.py", "core/runtime.py")


def code_digest() -> str:
    """sha256 of the source of the modules that decide a feature's image."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in CODE:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes())
    return h.hexdigest()


def recipe_hash(settings: VisSettings, seed: int, model_key: str, weights_digest: str, extra: dict | None = None) -> str:
    """A short hash of everything that decides a feature's image: recipe, seed, model and weights, fast paths, and
    the code that optimises."""
    blob = json.dumps({"settings": settings.model_dump(mode="json", exclude={"batch_features"}),
                       "seed": seed, "model": model_key, "weights": weights_digest, "extra": extra or {},
                       "code": code_digest()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _path(folder: Path, t: Target) -> Path:
    return folder / f"{t.site}_f{t.feature:05d}.npz"


def save_result(folder: Path, r: FeatureResult) -> None:
    """Write one finished feature (temporary file, then rename: a kill leaves no partial file)."""
    meta = {k: v for k, v in dataclasses.asdict(r).items() if k not in ("image", "losses")}
    path = _path(folder, Target(r.site, r.feature))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    np.savez(tmp, image=r.image, losses=r.losses, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    os.replace(tmp, path)


def load_result(folder: Path, t: Target) -> FeatureResult | None:
    """A finished feature from the cache, or None."""
    path = _path(folder, t)
    if not path.exists():
        return None
    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        return FeatureResult(**meta, image=z["image"], losses=z["losses"])


def visualize_resumable(loaded: LoadedModel, targets: list[Target], cfg: VisSettings, folder: str | Path,
                        seed: int = 0, device: str | torch.device = "cpu",
                        run: Callable[..., list[FeatureResult]] = visualize) -> list[FeatureResult]:
    """`visualize` with every finished feature kept under `folder` (one recipe's folder): features found there are
    read back, the others are optimised one batch at a time and saved as each batch ends."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results = [load_result(folder, t) for t in targets]
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) < len(targets):
        log.info("%s: %d of %d features already finished in %s", loaded.key, len(targets) - len(todo), len(targets),
                 folder)
    ctx = context()
    n = cfg.batch_features * ctx.world  # one batch per rank under torchrun
    for b in range(0, len(todo), n):
        idx = todo[b:b + n]
        for i, r in zip(idx, run(loaded, [targets[i] for i in idx], cfg, seed=seed, device=device)):
            if ctx.rank == 0:
                save_result(folder, r)
            results[i] = r
    return results
