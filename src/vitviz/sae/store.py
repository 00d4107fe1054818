"""A trained SAE on disk: a folder with weights.safetensors and config.json, written in one atomic rename.

config.json holds the format, the settings, the input dimension, the site the SAE reads (e.g. "blocks.5") and
the caller's provenance (e.g. the hash of the model weights and of the training tokens)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file

from vitviz.core.atomic import atomic_path
from vitviz.core.errors import CheckpointError
from vitviz.sae.model import SparseAutoencoder
from vitviz.sae.settings import SAESettings

FORMAT = "vitviz-sae/1"
WEIGHTS, CONFIG = "weights.safetensors", "config.json"


@dataclass(frozen=True)
class SavedSAE:
    """An SAE read back from disk (in eval mode, without gradients), with the site it reads and its provenance."""
    sae: SparseAutoencoder
    site: str
    provenance: dict[str, Any]


def save_sae(path: str | Path, sae: SparseAutoencoder, site: str, provenance: dict[str, Any] | None = None
             ) -> Path:
    """Write `sae` to the folder `path` (replacing it whole, atomically); `provenance` must be JSON data."""
    config = {"format": FORMAT, "site": site, "input_dim": sae.input_dim, "width": sae.width,
              "settings": dataclasses.asdict(sae.settings), "provenance": dict(provenance or {})}
    text = json.dumps(config, indent=2) + "\n"  # fails here, before anything is written, on non-JSON provenance
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in sae.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.mkdir()
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        (tmp / CONFIG).write_text(text)
    return path


def load_sae(path: str | Path, device: str | torch.device = "cpu") -> SavedSAE:
    """Read an SAE folder written by save_sae; a missing folder is FileNotFoundError, a bad one CheckpointError."""
    path = Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"{path}: no SAE here ({CONFIG} and {WEIGHTS} expected); train it first")
    try:
        config = json.loads((path / CONFIG).read_text())
        if config.get("format") != FORMAT:
            raise ValueError(f"format {config.get('format')!r}, expected {FORMAT!r}")
        sae = SparseAutoencoder(int(config["input_dim"]), SAESettings(**config["settings"]))
        sae.load_state_dict(load_file(str(path / WEIGHTS)))
    except (ValueError, KeyError, TypeError, RuntimeError, OSError, ValidationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable SAE ({first}); train it again") from None
    return SavedSAE(sae.to(device).eval().requires_grad_(False), str(config["site"]),
                    dict(config.get("provenance") or {}))


def attach_trained_saes(model: torch.nn.Module, folder: str | Path, device: str | torch.device = "cpu") -> None:
    """Attach the SAEs saved in `folder` (data/sae/<key>, if there is one) to `model`: their latents become sites
    '<site>.sae'."""
    if Path(folder).is_dir():
        from vitviz.activations.sites import attach_saes
        attach_saes(model, load_saes(folder, device))


def load_saes(folder: str | Path, device: str | torch.device = "cpu") -> dict[str, SparseAutoencoder]:
    """Every SAE saved in the subfolders of `folder` (one per site), by the name of the site it reads."""
    out = {}
    for sub in sorted(p for p in Path(folder).iterdir() if (p / CONFIG).is_file()):
        saved = load_sae(sub, device)
        out[saved.site] = saved.sae
    return out
