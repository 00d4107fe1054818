"""The paper's augmentations (authors' code): copies, ColorShift, per-copy per-channel noise, circular jitter.

Every draw comes from an explicit CPU `torch.Generator`, one per optimised feature, so a feature's images
are the same whether it is optimised alone or in a batch, and on any device.
"""
from __future__ import annotations

import torch

from vitviz.visualization.settings import VisSettings


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


def draw(gen: torch.Generator, step: int, steps: int, cfg: VisSettings
         ) -> tuple[torch.Tensor, tuple[int, int]]:
    """One feature's draws for one step: (shift m, scale s, noise), stacked (3, copies, 3, 1, 1), and its jitter."""
    m, s = color_shift_params(gen, cfg.copies, cfg.shift_bound, cfg.scale_bound)
    noise = torch.randn(cfg.copies, 3, 1, 1, generator=gen) * noise_std_at(step, steps, cfg.noise_std)
    return torch.stack([m, s, noise]), jitter_shift(gen, cfg.jitter)


def draw_batch(gens: list[torch.Generator], step: int, steps: int, cfg: VisSettings
               ) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """The draws of all F features for one step: (shift m, scale s, noise) stacked (3, F, copies, 3, 1, 1),
    and the F jitters; each feature draws from its own generator in the order of `draw`."""
    draws = [draw(g, step, steps, cfg) for g in gens]
    return torch.stack([d for d, _ in draws], dim=1), [shift for _, shift in draws]


def roll_features(x: torch.Tensor, shifts: list[tuple[int, int]]) -> torch.Tensor:
    """Each of the F images (F, 3, H, W) circularly shifted by its own (dy, dx)."""
    if not any(dy or dx for dy, dx in shifts):
        return x
    return torch.stack([torch.roll(x[i], shifts=shift, dims=(1, 2)) for i, shift in enumerate(shifts)])


def to_device(params: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The draws on `device` in one copy, without blocking the host."""
    if device.type == "cuda":
        params = params.pin_memory()
    return params.to(device, non_blocking=True)


def normalized_copies(rolled: torch.Tensor, m: torch.Tensor, s: torch.Tensor, noise: torch.Tensor,
                      mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The copies ((rolled - m) / s + noise - mean) / std, feature-major (F*copies, 3, H, W), in one pass.

    `rolled` is (F, 3, H, W); m, s and noise (F, copies, 3, 1, 1); mean and std (3, 1, 1)."""
    scale = 1.0 / (s * std)
    shift = (noise - m / s - mean) / std
    return torch.addcmul(shift, rolled.unsqueeze(1), scale).flatten(0, 1)


def augment_batch(x: torch.Tensor, gens: list[torch.Generator], step: int, steps: int,
                  cfg: VisSettings) -> torch.Tensor:
    """Copies of each of the F images (F, 3, H, W), feature-major: rows f*copies .. f*copies+copies-1.

    The jitter is one circular shift for all copies of a feature, so it is applied once per feature, before
    the per-channel colour shift and noise (a permutation of pixels commutes with them).
    """
    params, shifts = draw_batch(gens, step, steps, cfg)
    m, s, noise = to_device(params, x.device)
    zero, one = x.new_zeros(3, 1, 1), x.new_ones(3, 1, 1)                 # the copies before normalisation
    return normalized_copies(roll_features(x, shifts), m, s, noise, zero, one)
