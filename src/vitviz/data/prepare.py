"""Prepare a dataset folder: the synthetic ImageNet and its index, or an index of a user's ImageNet."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vitviz.data.settings import PrepareDataConfig
from vitviz.data.imagenet import build_index
from vitviz.data.synthetic import generate

log = logging.getLogger(__name__)

SYNTHETIC_DIR = "imagenet"


def prepare_dataset(cfg: PrepareDataConfig, out_dir: str | Path) -> dict:
    """Write the dataset index (and, for the synthetic source, the images) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.source == "synthetic":
        summary = generate(cfg.synthetic, out_dir / SYNTHETIC_DIR)
        meta = build_index(out_dir / SYNTHETIC_DIR, out_dir, root_ref=SYNTHETIC_DIR)
        meta["synthetic"] = summary
    else:
        root = Path(cfg.imagenet_root).expanduser().resolve()
        meta = build_index(root, out_dir, root_ref=str(root))
    meta["source"] = cfg.source
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
