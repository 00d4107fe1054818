"""Torch datasets over a prepared index; undecodable images are skipped and counted, never fatal."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .imagenet import DatasetIndex, ImageDecodeError, load_rgb

log = logging.getLogger(__name__)


class IndexedImages(Dataset):
    """Images of one split of a prepared index, as (tensor, label, row) or None when undecodable."""

    def __init__(self, index: DatasetIndex, split: str, transform: Callable, rows: Sequence[int] | None = None):
        df = index.split(split)
        self.paths = [index.image_path(p) for p in df["path"]]
        self.labels = [int(v) for v in df["label"]]
        self.rows = list(range(len(df))) if rows is None else [int(r) for r in rows]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        row = self.rows[i]
        try:
            img = load_rgb(self.paths[row])
        except ImageDecodeError as exc:
            log.warning("skipped: %s", exc)
            return None
        return self.transform(img), self.labels[row], row


def collate_skip(batch: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Stack the decodable items of a batch; also return how many were skipped."""
    good = [b for b in batch if b is not None]
    skipped = len(batch) - len(good)
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), skipped
    xs, ys, rows = zip(*good)
    return torch.stack(xs), torch.tensor(ys), torch.tensor(rows), skipped


def loader(dataset: Dataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """An in-order DataLoader that skips undecodable images."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate_skip, pin_memory=pin_memory)
