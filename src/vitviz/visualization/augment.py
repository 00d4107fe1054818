"""The paper's augmentations (authors' code): copies, ColorShift, per-copy per-channel noise, circular jitter.

Every draw comes from an explicit CPU `torch.Generator`, one per optimised feature, so a feature's images
are the same whether it is optimised alone or in a batch, and on any device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vitviz.paper import PAPER_RECIPE


@dataclass
class AugmentConfig:
    """Knobs of the augmentation; the defaults are the authors' (method.md, decisions table)."""
    copies: int = PAPER_RECIPE.copies
    shift_bound: float = PAPER_RECIPE.shift_bound    # ColorShift shift m ~ U(-b, b)
    scale_bound: float = PAPER_RECIPE.scale_bound    # ColorShift scale s = exp(U(-b, b))
    noise_std: float = PAPER_RECIPE.noise_std        # noise std at the first step; falls linearly to 0 at the last
    jitter: int = PAPER_RECIPE.jitter                # circular shift of up to +-jitter pixels, one for all copies


def color_shift_params(gen: torch.Generator, copies: int, shift_bound: float, scale_bound: float
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per copy and channel: shift m ~ U(-b, b) and scale s = exp(U(-b', b')), each (copies, 3, 1, 1)."""
    m = (torch.rand(copies, 3, 1, 1, generator=gen) - 0.5) * 2 * shift_bound
    s = torch.exp((torch.rand(copies, 3, 1, 1, generator=gen) - 0.5) * 2 * scale_bound)
    return m, s


def noise_std_at(step: int, steps: int, start: float) -> float:
    """Noise std at `step` (0-based): `start` at the first step, falling linearly to 0 at the last."""
    return start * (1.0 - step / (steps - 1)) if steps > 1 else 0.0


def jitter_shift(gen: torch.Generator, bound: int) -> tuple[int, int]:
    """(dy, dx), each uniform over the integers -bound..bound."""
    if bound <= 0:
        return 0, 0
    dy, dx = torch.randint(-bound, bound + 1, (2,), generator=gen).tolist()
    return int(dy), int(dx)


def draw(gen: torch.Generator, step: int, steps: int, cfg: AugmentConfig
         ) -> tuple[torch.Tensor, tuple[int, int]]:
    """One feature's draws for one step: (shift m, scale s, noise), stacked (3, copies, 3, 1, 1), and its jitter."""
    m, s = color_shift_params(gen, cfg.copies, cfg.shift_bound, cfg.scale_bound)
    noise = torch.randn(cfg.copies, 3, 1, 1, generator=gen) * noise_std_at(step, steps, cfg.noise_std)
    return torch.stack([m, s, noise]), jitter_shift(gen, cfg.jitter)


def augment_batch(x: torch.Tensor, gens: list[torch.Generator], step: int, steps: int,
                  cfg: AugmentConfig) -> torch.Tensor:
    """Copies of each of the F images (F, 3, H, W), feature-major: rows f*copies .. f*copies+copies-1.

    The draws of all features reach the device in one copy, without blocking the host.
    """
    draws = [draw(g, step, steps, cfg) for g in gens]
    params = torch.stack([d for d, _ in draws], dim=1)                    # (3, F, copies, 3, 1, 1)
    if x.device.type == "cuda":
        params = params.pin_memory()
    m, s, noise = params.to(x.device, non_blocking=True)
    out = (x.unsqueeze(1) - m) / s + noise                                # (F, copies, 3, H, W)
    return torch.cat([torch.roll(out[i], shifts=shift, dims=(2, 3)) for i, (_, shift) in enumerate(draws)])
