"""Train the small demo models (a timm ViT and a timm ResNet) on a prepared split, deterministically on CPU."""
from __future__ import annotations

import logging
import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vitviz.models.settings import ModelEntry, TrainConfig
from vitviz.activations.loader import SplitImages, loader
from vitviz.models.transforms import crop_transform
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.spec import ModelSpec
from vitviz.models.fetch import apply_preprocess
from vitviz.models.store import detect_kind, normalize

log = logging.getLogger(__name__)


def decode_split(index: DatasetIndex, split: str, spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of a split through the spec's eval transform, unnormalised, as uint8 (N,3,S,S)."""
    ds = SplitImages(index, split, crop_transform(spec))
    xs, ys = [], []
    for x, y, _, _ in tqdm(loader(ds, 256), desc=f"decode {split}", unit="batch", mininterval=2.0):
        if len(y):
            xs.append(x.flatten(0, 1))
            ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def random_crops(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random translations by up to `pad` pixels (reflect padding, then a crop of the original size)."""
    if pad <= 0:
        return x
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * pad)
    xp = xp.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    return xp.gather(3, cols)


def random_erase(x: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Black out one random rectangle (10-50% of the area, aspect 1/2 to 2) in each image with probability `prob`."""
    if prob <= 0:
        return x
    x = x.clone()
    n, _, h, w = x.shape
    for i in torch.nonzero(torch.rand(n, generator=gen) < prob).flatten().tolist():
        area = (0.1 + 0.4 * float(torch.rand(1, generator=gen))) * h * w
        aspect = math.exp(math.log(2) * (2 * float(torch.rand(1, generator=gen)) - 1))
        eh = max(1, min(h, int(round(math.sqrt(area * aspect)))))
        ew = max(1, min(w, int(round(math.sqrt(area / aspect)))))
        y0 = int(torch.randint(0, h - eh + 1, (1,), generator=gen))
        x0 = int(torch.randint(0, w - ew + 1, (1,), generator=gen))
        x[i, :, y0:y0 + eh, x0:x0 + ew] = 0
    return x


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warmup then cosine decay to zero."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * t))


@torch.no_grad()
def _accuracy(model: nn.Module, spec: ModelSpec, x: torch.Tensor, y: torch.Tensor, bs: int = 256) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), bs):
        correct += int((model(normalize(x[i:i + bs], spec)).argmax(1) == y[i:i + bs]).sum())
    return 100.0 * correct / max(1, len(x))


def train_demo(entry: ModelEntry, key: str, index: DatasetIndex) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """Train `entry` (source: train) on the index's train split; return model, spec and per-epoch history."""
    import timm
    cfg: TrainConfig = entry.train or TrainConfig()
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    kwargs = {k: v for k, v in entry.kwargs.items() if k != "num_classes"}
    model = timm.create_model(entry.name, pretrained=False, num_classes=len(index.wnids), **kwargs)
    dc = timm.data.resolve_model_data_config(model)
    spec = ModelSpec(key=key, library="timm", name=entry.name, kwargs=kwargs, kind=entry.kind or detect_kind(model),
                     interpolation=dc["interpolation"], mean=tuple(dc["mean"]), std=tuple(dc["std"]),
                     crop_pct=dc["crop_pct"], num_classes=len(index.wnids), class_wnids=index.wnids,
                     class_names=index.names, provenance={"source": "train", "train": vars(cfg).copy()})
    apply_preprocess(spec, entry)
    xtr, ytr = decode_split(index, "train", spec)
    xva, yva = decode_split(index, "val", spec) if "val" in index.splits else (xtr[:0], ytr[:0])
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(xtr) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    history, step = [], 0
    bar = tqdm(range(cfg.epochs), desc=f"train {key}", unit="epoch")
    for epoch in bar:
        model.train()
        t0, loss_sum, seen = time.time(), 0.0, 0
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            xb = normalize(random_erase(random_crops(xtr[idx], cfg.pad, gen), cfg.erase_prob, gen), spec)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, cfg.lr)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            step += 1
        val = _accuracy(model, spec, xva, yva) if len(xva) else float("nan")
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "val_top1": val})
        log.info("%s: epoch %d took %.1f s", key, epoch + 1, time.time() - t0)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", val=f"{val:.1f}")
    model.eval()
    return model, spec, history
