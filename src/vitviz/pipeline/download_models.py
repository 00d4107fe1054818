"""The download_models stage's work for one model entry: download its weights (or train a demo model), save it as a
model folder, reload it offline and evaluate it (weights, spec, training history and metrics)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from vitviz.core.atomic import atomic_path
from vitviz.models.settings import DownloadConfig, ModelEntry
from vitviz.core.distributed import local_device
from vitviz.evaluation.accuracy import evaluate
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.fetch import apply_preprocess, fetch
from vitviz.core.runtime import Runtime
from vitviz.core.threads import fixed_threads
from vitviz.models.spec import HISTORY_FILE, METRICS_FILE
from vitviz.models.store import load_model, save_model

log = logging.getLogger(__name__)

def download_model(entry: ModelEntry, key: str, index: DatasetIndex, out_dir: str | Path,
                   cfg: DownloadConfig, runtime: Runtime | None = None) -> dict:
    """Download (or train) `entry`, save it, reload it offline, evaluate it (on cfg.device); return its metrics."""
    history = None
    if entry.source == "train":
        from vitviz.pipeline.train_demo import train_demo
        with fixed_threads(entry.train.threads):
            model, spec, history = train_demo(entry, key, index)
    else:
        model, spec = fetch(entry, key, timeout=cfg.connect_timeout)
        apply_preprocess(spec, entry)
    with atomic_path(out_dir) as tmp:
        save_model(model, spec, tmp)
        device = local_device(cfg.device)
        loaded = load_model(tmp, device, runtime)  # the same offline path every later stage uses
        metrics = {"key": key, "source": entry.source, "kind": spec.kind,
                   "params": sum(p.numel() for p in loaded.model.parameters()),
                   **evaluate(loaded, index, cfg.eval_split, cfg.eval_limit, cfg.batch_size, device)}
        if history:
            pd.DataFrame(history).to_csv(tmp / HISTORY_FILE, index=False)
        (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("model %s: %s", key, {k: v for k, v in metrics.items() if k in ("top1", "top5", "reason")})
    return metrics
