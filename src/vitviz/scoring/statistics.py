"""Per-image feature statistics (mean over patch tokens) of the explained model: over a split and on images."""
from __future__ import annotations

import numpy as np
import torch

from vitviz.activations.collect import Collect
from vitviz.activations.hooks import Recorder, image_forward
from vitviz.activations.sites import list_sites
from vitviz.activations.stream import image_statistic, stream
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.store import LoadedModel, normalize


def split_statistics(loaded: LoadedModel, targets: list[tuple[str, int]], index: DatasetIndex, split: str,
                     rows: list[int], batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(rows (n,), stats (n, F), skipped): each target feature's mean over patch tokens on each decodable image."""
    acc = Collect(list_sites(loaded.model), targets)
    done = stream(loaded, index, split, rows, [acc], batch_size, device, f"statistics {loaded.key}")
    return acc.rows, acc.values, done.skipped


@torch.no_grad()
def image_statistics(loaded: LoadedModel, images: list[np.ndarray], site_names: list[str], device: torch.device,
                     objective: bool = False) -> dict[str, torch.Tensor]:
    """Per site, (B, C): every channel's mean over patch tokens on uint8 images at the model's input size; with
    `objective`, of what visualisation maximises (an SAE latent's pre-activation instead of its sparse code)."""
    return _statistics(loaded, images, site_names, device, (objective,))[0]


def values_and_objectives(loaded: LoadedModel, images: list[np.ndarray], site_names: list[str],
                          device: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """`image_statistics` without and with `objective`, from one forward (the same tensors where they agree)."""
    values, objectives = _statistics(loaded, images, site_names, device, (False, True))
    return values, objectives


def _statistics(loaded: LoadedModel, images: list[np.ndarray], site_names: list[str], device: torch.device,
                views: tuple[bool, ...]) -> list[dict[str, torch.Tensor]]:
    model = loaded.prepare(device)
    sites = list_sites(model)
    used = [sites[s] for s in dict.fromkeys(site_names)]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(device)
    deepest = max(used, key=lambda s: s.layer).block
    out: list[dict[str, torch.Tensor]] = [{} for _ in views]
    with Recorder(model, [s.module for s in used], stop_after=deepest) as rec, loaded.autocast(device):
        acts = rec.run(image_forward(model), normalize(x, loaded.spec))
        for s in used:
            plain = None
            for i, objective in enumerate(views):
                if objective and s.objective_project is not None:
                    out[i][s.name] = image_statistic(s.patch_tokens(acts[s.module], len(images), True).float(),
                                                     "mean").cpu()
                else:
                    if plain is None:
                        plain = image_statistic(s.patch_tokens(acts[s.module], len(images)).float(), "mean").cpu()
                    out[i][s.name] = plain
    return out
