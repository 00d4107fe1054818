"""Fetch a pretrained model from timm, open_clip, torchvision, a local file or a URL, offline-aware.

Weights already in a local cache (the HF cache, torch hub's checkpoints folder) or given as a file
load through the library's own loading code with no network call. Anything else first probes the
host for a few seconds, so an offline machine gets a clear error at once, never minutes of retries.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from vitviz.core.disk_cache import cache_dir as user_cache
from vitviz.models.settings import ModelEntry
from vitviz.models.spec import ModelSpec
from vitviz.models.store import detect_kind, load_weights_into, sha256_file
from vitviz.core.errors import CheckpointError, ModelSourceError  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


def bound_hub_time(timeout: float) -> None:
    """Bound huggingface_hub's metadata and download waits to `timeout` seconds (its default is 10 s per try)."""
    import huggingface_hub.constants as c
    t = max(1, int(round(timeout)))
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(t))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(max(t, 10)))
    c.HF_HUB_ETAG_TIMEOUT = int(os.environ["HF_HUB_ETAG_TIMEOUT"])
    c.HF_HUB_DOWNLOAD_TIMEOUT = int(os.environ["HF_HUB_DOWNLOAD_TIMEOUT"])


def hub_reachable(url: str, timeout: float) -> bool:
    """True when the URL's host answers an HTTP request within `timeout` seconds (any status counts).

    A host that accepts connections but never answers (a captive portal, an intercepting proxy) is unreachable.
    """
    import urllib.error
    import urllib.request
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        return False
    req = urllib.request.Request(f"{u.scheme}://{u.netloc}/", method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return True
    except urllib.error.HTTPError:   # it answered
        return True
    except (OSError, ValueError):    # URLError, timeouts, refused, TLS failures
        return False


def offline_error(what: str, url: str) -> ModelSourceError:
    """The one-line error for weights that are neither cached nor reachable."""
    return ModelSourceError(
        f"cannot fetch {what}: {urlparse(url).hostname} is unreachable and the weights are not cached. "
        "Fix: fill the cache on a machine with network (HF cache, or torch hub checkpoints) and copy it "
        "here with HF_HUB_OFFLINE=1, or set `file:` to a local checkpoint (or use source: file)")


def _hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hf_cached(repo_id: str, filenames: list[str]) -> str | None:
    """Path of the first of `filenames` present in the local HF cache for `repo_id`, else None."""
    from huggingface_hub import try_to_load_from_cache
    repo, _, revision = repo_id.partition("@")
    for fn in filenames:
        p = try_to_load_from_cache(repo, fn, revision=revision or None)
        if isinstance(p, str) and os.path.exists(p):
            return p
    return None


def _local_file(entry: ModelEntry) -> Path | None:
    if not entry.file:
        return None
    p = Path(entry.file).expanduser()
    if not p.is_file():
        raise ModelSourceError(f"{p}: checkpoint file not found; fix `file:` in the model entry")
    return p


def _imagenet_classes(num_classes: int, model: nn.Module | None = None) -> tuple[list[str], list[str]]:
    from timm.data import ImageNetInfo, infer_imagenet_subset
    subset = None
    if model is not None:
        try:
            subset = infer_imagenet_subset(model)
        except Exception:
            subset = None
    if subset is None and num_classes == 1000:
        subset = "imagenet-1k"
    if subset is None:
        return [], [str(i) for i in range(num_classes)]
    info = ImageNetInfo(subset)
    if info.num_classes() != num_classes:
        return [], [str(i) for i in range(num_classes)]
    return list(info.label_names()), list(info.label_descriptions())


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from vitviz.models.store import read_weights
    return read_weights(path)


# ---------------------------------------------------------------------------------------------------

def _timm(entry: ModelEntry, timeout: float) -> tuple[nn.Module, dict[str, Any]]:
    import timm
    from timm.models import get_pretrained_cfg
    full = f"{entry.name}.{entry.tag}" if entry.tag else entry.name
    overlay: dict[str, Any] = {}
    local = _local_file(entry)
    if local is None:
        cfg = get_pretrained_cfg(full)
        if cfg is None:
            raise ModelSourceError(f"timm has no pretrained weights {full!r}; see timm.list_pretrained('{entry.name}*')")
        cfg = cfg.to_dict()
        hub_id = cfg.get("hf_hub_id")
        names = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else ["model.safetensors", "pytorch_model.bin"]
        cached = hf_cached(hub_id, names) if hub_id else None
        if cached is None and cfg.get("url"):
            c = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg["url"]).path)
            cached = str(c) if c.exists() else None
        if cached is None:
            url = _hf_endpoint() if hub_id else cfg.get("url", _hf_endpoint())
            if not hub_reachable(url, timeout):
                raise offline_error(f"timm weights {full!r}", url)
        else:
            local = Path(cached)
    if local is not None:
        overlay = {"file": str(local)}
        if local.suffix == ".npz":
            overlay["custom_load"] = True
    try:
        model = timm.create_model(full, pretrained=True, pretrained_cfg_overlay=overlay or None, **entry.kwargs)
    except Exception as exc:
        if local is None or local.suffix == ".npz":
            raise
        from vitviz.models.store import fit_error
        sd = _load_state_dict(local)     # an unreadable file raises its own one line here
        err = fit_error(timm.create_model(full, pretrained=False, **entry.kwargs), {k: list(v.shape) for k, v in
                                                                                      sd.items()}, full, local)
        raise CheckpointError(err or f"{local}: timm cannot load it ({str(exc).strip().splitlines()[0][:160]})"
                              ) from exc
    dc = timm.data.resolve_model_data_config(model)
    return model, {"data_config": dc, "source_file": str(local) if local else None}


def _open_clip(entry: ModelEntry, timeout: float) -> tuple[nn.Module, dict[str, Any]]:
    import open_clip
    kwargs = dict(entry.kwargs)
    local = _local_file(entry)
    pretrained: str | None = str(local) if local else None
    if entry.tag:
        cfg = open_clip.get_pretrained_cfg(entry.name, entry.tag) or {}
        if cfg.get("quick_gelu"):
            kwargs.setdefault("force_quick_gelu", True)
        if local is None:
            hub = cfg.get("hf_hub", "")
            repo = hub.rstrip("/").split("/")
            repo_id = "/".join(repo[:2]) if len(repo) >= 2 else None
            cached = hf_cached(repo_id, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]) if repo_id else None
            if cached is None:
                url = _hf_endpoint() if repo_id else cfg.get("url", _hf_endpoint())
                if not hub_reachable(url, timeout):
                    raise offline_error(f"open_clip weights {entry.name}/{entry.tag}", url)
                pretrained = entry.tag
            else:
                pretrained, local = cached, Path(cached)
    model = open_clip.create_model(entry.name, pretrained=pretrained, **kwargs)
    return model, {"data_config": open_clip_data_config(model), "kwargs": kwargs,
                   "source_file": str(local) if local else None}


def open_clip_data_config(model: nn.Module) -> dict[str, Any]:
    """The input size, interpolation, mean and std of an open_clip model's visual tower (whole image, no crop)."""
    import open_clip
    pp = getattr(model.visual, "preprocess_cfg", {}) or {}
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return {"input_size": (3, int(size), int(size)), "interpolation": pp.get("interpolation", "bicubic"),
            "mean": tuple(pp.get("mean", open_clip.OPENAI_DATASET_MEAN)),
            "std": tuple(pp.get("std", open_clip.OPENAI_DATASET_STD)), "crop_pct": 1.0, "crop_mode": "center"}


def _torchvision(entry: ModelEntry, timeout: float) -> tuple[nn.Module, dict[str, Any]]:
    import torchvision
    enum = torchvision.models.get_model_weights(entry.name)
    weights = enum[entry.tag] if entry.tag else enum.DEFAULT
    local = _local_file(entry)
    if local is not None:
        num_classes = len(weights.meta["categories"])
        model = torchvision.models.get_model(entry.name, weights=None, num_classes=num_classes, **entry.kwargs)
        load_weights_into(model, _load_state_dict(local), entry.name, local)
    else:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)
        if not cached.exists() and not hub_reachable(weights.url, timeout):
            raise offline_error(f"torchvision weights {entry.name}/{weights.name}", weights.url)
        model = torchvision.models.get_model(entry.name, weights=weights, **entry.kwargs)
        local = cached
    t = weights.transforms()
    dc = {"input_size": (3, t.crop_size[0], t.crop_size[0]), "interpolation": t.interpolation.value,
          "mean": tuple(t.mean), "std": tuple(t.std), "crop_pct": t.crop_size[0] / t.resize_size[0],
          "crop_mode": "center"}
    return model, {"data_config": dc, "source_file": str(local), "tag": weights.name}


def _checkpoint(entry: ModelEntry, timeout: float, cache_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    path = _local_file(entry)
    if entry.source == "url":
        name = os.path.basename(urlparse(entry.url).path) or "checkpoint"
        path = cache_dir / name
        if not path.exists():
            if not hub_reachable(entry.url, timeout):
                raise offline_error(f"checkpoint {entry.url}", entry.url)
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            torch.hub.download_url_to_file(entry.url, str(tmp), progress=True)
            os.replace(tmp, path)
    if entry.sha256 and sha256_file(path) != entry.sha256:
        raise ModelSourceError(f"{path}: SHA-256 differs from the entry's sha256; delete the file and fetch again")
    kwargs = {k: v for k, v in entry.kwargs.items() if k != "num_classes"}
    spec = ModelSpec(key="", library=entry.lib, name=entry.name, kwargs=kwargs)
    sd = _load_state_dict(path)
    if entry.convert:
        from vitviz.models.convert import CONVERTERS
        sd = CONVERTERS[entry.convert](sd)
    from vitviz.models.store import build_architecture
    spec.num_classes = int(entry.kwargs.get("num_classes", _head_size(sd)))
    model = build_architecture(spec)
    load_weights_into(model, sd, entry.name, path)
    dc = {}
    if entry.lib == "timm":
        import timm
        dc = timm.data.resolve_model_data_config(model)
    elif entry.lib == "open_clip":
        dc = open_clip_data_config(model)
    return model, {"data_config": dc, "source_file": str(path)}


def _head_size(sd: dict[str, torch.Tensor]) -> int:
    for k in ("head.weight", "fc.weight", "classifier.weight", "classifier.1.weight", "head.fc.weight"):
        if k in sd:
            return int(sd[k].shape[0])
    return 0


def fetch(entry: ModelEntry, key: str, timeout: float = 3.0,
          cache_dir: str | Path | None = None) -> tuple[nn.Module, ModelSpec]:
    """Build the entry's pretrained model and its spec (preprocessing, classes, provenance)."""
    bound_hub_time(timeout)
    if entry.source == "timm":
        model, info = _timm(entry, timeout)
    elif entry.source == "open_clip":
        model, info = _open_clip(entry, timeout)
    elif entry.source == "torchvision":
        model, info = _torchvision(entry, timeout)
    elif entry.source in ("file", "url"):
        model, info = _checkpoint(entry, timeout, Path(cache_dir or user_cache()).expanduser())
    else:
        raise ValueError(f"source {entry.source!r} is not fetched; it is trained")
    model.eval()
    dc = {"crop_mode": "center", **info.get("data_config", {})}
    num_classes = 0 if entry.lib == "open_clip" else int(getattr(model, "num_classes", 0) or _count_outputs(model))
    wnids, names = _imagenet_classes(num_classes, model) if num_classes else ([], [])
    src = info.get("source_file")
    kwargs = {k: v for k, v in info.get("kwargs", entry.kwargs).items() if k != "num_classes"}
    spec = ModelSpec(
        key=key, library=entry.lib, name=entry.name, kwargs=kwargs,
        kind=entry.kind or detect_kind(model), num_classes=num_classes, class_wnids=wnids, class_names=names,
        provenance={"source": entry.source, "tag": info.get("tag", entry.tag), "file": entry.file,
                    "url": entry.url, "source_sha256": sha256_file(src) if src and os.path.isfile(src) else None})
    for k in ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode"):
        if k in dc and dc[k] is not None:
            setattr(spec, k, tuple(dc[k]) if isinstance(dc[k], (list, tuple)) else dc[k])
    return model, spec


def _count_outputs(model: nn.Module) -> int:
    for attr in ("fc", "classifier", "head"):
        m = getattr(model, attr, None)
        if isinstance(m, nn.Sequential):
            m = [x for x in m if isinstance(x, nn.Linear)][-1:] or [None]
            m = m[0]
        if isinstance(m, nn.Linear):
            return m.out_features
    return 0


def apply_preprocess(spec: ModelSpec, entry: ModelEntry) -> ModelSpec:
    """Apply the entry's preprocess overrides to a spec."""
    p = entry.preprocess
    if p.input_size is not None:
        spec.input_size = (3, p.input_size, p.input_size)
    for k in ("interpolation", "crop_pct", "mean", "std"):
        v = getattr(p, k)
        if v is not None:
            setattr(spec, k, tuple(v) if isinstance(v, (list, tuple)) else v)
    return spec
