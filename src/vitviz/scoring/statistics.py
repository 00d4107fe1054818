"""Per-image feature statistics (mean over patch tokens) of the explained model: over a split and on images."""
from __future__ import annotations

import numpy as np
import torch

from vitviz.data.imagenet import DatasetIndex
from vitviz.exemplars.mining import site_outputs, site_statistic
from vitviz.models.hooks import Recorder, image_forward
from vitviz.models.sites import list_sites
from vitviz.models.store import LoadedModel, normalize


@torch.no_grad()
def split_statistics(loaded: LoadedModel, targets: list[tuple[str, int]], index: DatasetIndex, split: str,
                     rows: list[int], batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(rows (n,), stats (n, F), skipped): each target feature's mean over patch tokens on each decodable image."""
    sites = list_sites(loaded.model)
    used = [sites[s] for s in dict.fromkeys(s for s, _ in targets)]
    got_rows, got, skipped = [], [], 0
    for b, out in site_outputs(loaded, used, index, split, rows, batch_size, device, f"statistics {loaded.key}"):
        skipped += b.skipped
        if out is None:
            continue
        per_site = {s.name: site_statistic(s, out[s.module], len(b), "mean") for s in used}
        got.append(torch.stack([per_site[s][:, f] for s, f in targets], dim=1).cpu())
        got_rows.append(b.rows.cpu())
    if not got:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, len(targets)), skipped
    return torch.cat(got_rows), torch.cat(got), skipped


@torch.no_grad()
def image_statistics(loaded: LoadedModel, images: list[np.ndarray], site_names: list[str], device: torch.device
                     ) -> dict[str, torch.Tensor]:
    """Per site, (B, C): every channel's mean over patch tokens on uint8 images at the model's input size."""
    model = loaded.prepare(device)
    sites = list_sites(model)
    used = [sites[s] for s in dict.fromkeys(site_names)]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(device)
    deepest = max(used, key=lambda s: s.layer).block
    with Recorder(model, [s.module for s in used], stop_after=deepest) as rec, loaded.autocast(device):
        out = rec.run(image_forward(model), normalize(x, loaded.spec))
        return {s.name: site_statistic(s, out[s.module], len(images), "mean").cpu() for s in used}
