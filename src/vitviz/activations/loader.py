"""Batches of model inputs from a prepared split; undecodable images are skipped and counted, never fatal.

Images are decoded by PIL and cropped by timm's eval transform in DataLoader workers and travel as uint8
(four times less to copy than floats); they are scaled and normalised on the model's device. With the runtime's
device_decode, JPEG bytes travel instead and are decoded and cropped on the device (see device_decode.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vitviz.core.threads import rebalance
from vitviz.activations.device_decode import decode_batch, device_decodable, read_encoded
from vitviz.data.imagenet import DatasetIndex, ImageDecodeError, load_rgb
from vitviz.models.transforms import crop_transform
from vitviz.models.store import LoadedModel, normalize

log = logging.getLogger(__name__)

# Variants of one decoded image (H, W, 3) uint8 tensor and its split row, e.g. masked copies; same count for all.
Variants = Callable[[torch.Tensor, int], list[torch.Tensor]]


class SplitImages(Dataset):
    """Images of one split as (payload, label, row), or None when undecodable.

    The payload is a uint8 (V, 3, H, W) stack of crops (V = 1, or the number of variants), or, when `encoded`,
    what device_decode.read_encoded returns.
    """

    def __init__(self, index: DatasetIndex, split: str, transform: Callable, rows: Sequence[int] | None = None,
                 variants: Variants | None = None, encoded: bool = False):
        df = index.split(split)
        self.paths = [index.image_path(p) for p in df["path"]]
        self.labels = [int(v) for v in df["label"]]
        self.rows = list(range(len(df))) if rows is None else [int(r) for r in rows]
        self.transform = transform
        self.variants = variants
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        row = self.rows[i]
        try:
            if self.encoded:
                return read_encoded(self.paths[row]), self.labels[row], row
            img = load_rgb(self.paths[row])
        except ImageDecodeError as exc:
            log.warning("skipped: %s", exc)
            return None
        if self.variants is None:
            return self.transform(img)[None], self.labels[row], row
        views = self.variants(torch.from_numpy(np.array(img)), row)
        return torch.stack([self.transform(Image.fromarray(v.numpy())) for v in views]), self.labels[row], row


def collate(batch: list) -> tuple[torch.Tensor | list, torch.Tensor, torch.Tensor, int]:
    """The decodable items of a batch: stacked crops (or a list of encoded payloads), labels, rows, skipped."""
    good = [b for b in batch if b is not None]
    skipped = len(batch) - len(good)
    if not good:
        return [], torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), skipped
    xs, ys, rows = zip(*good)
    payload = torch.stack(xs) if xs[0].dim() == 4 else list(xs)
    return payload, torch.tensor(ys), torch.tensor(rows), skipped


def loader(dataset: Dataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """An in-order DataLoader that skips undecodable images."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate, pin_memory=pin_memory)


@dataclass
class Batch:
    """Model inputs x (B x V, 3, H, W) on the device, image-major; labels and split rows (B,) on the CPU."""
    x: torch.Tensor
    labels: torch.Tensor
    rows: torch.Tensor
    skipped: int

    def __len__(self) -> int:
        return len(self.labels)


def batches(loaded: LoadedModel, index: DatasetIndex, split: str, rows: Sequence[int], batch_size: int,
            device: str | torch.device, unit: bool = False, variants: Variants | None = None,
            desc: str = "") -> Iterator[Batch]:
    """The images at `rows` of a split, prepared for `loaded` and on `device`, with a progress bar.

    x is normalised for the model, or in [0, 1] with `unit`. A batch whose every image failed comes as an
    empty batch that only carries its `skipped` count.
    """
    device = torch.device(device)
    rt = loaded.runtime
    transform = crop_transform(loaded.spec)
    encoded = rt.device_decode and device_decodable(loaded.spec)
    ds = SplitImages(index, split, transform, rows, variants, encoded)
    for payload, labels, rws, skipped in tqdm(loader(ds, batch_size, rt.num_workers, rt.pins(device)),
                                              desc=desc or f"{loaded.key} {split}", unit="batch", mininterval=2.0):
        rebalance()
        if not len(labels):
            yield Batch(torch.empty(0, 3, 0, 0, device=device), labels, rws, skipped)
            continue
        if encoded:
            crops, keep = decode_batch(payload, device, transform, variants, rws.tolist())
            skipped += int((~keep).sum())
            labels, rws = labels[keep], rws[keep]
        else:
            crops = payload.flatten(0, 1).to(device, non_blocking=True)
        x = crops.float() / 255.0
        yield Batch(x if unit else normalize(x, loaded.spec), labels, rws, skipped)
