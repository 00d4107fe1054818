"""The similarity model of the machine 2-AFC: a perceptual embedding of images, never the explained model.

`score_features.similarity` names it: in the pipeline, a model key of params `models` (loaded from
data/models/<key>); `load_similarity` also takes `timm:<name>[.<tag>]`, `open_clip:<name>/<tag>`, a bare timm
name, or `dreamsim` (only when the dreamsim package and its weights are already on this machine). Embeddings come from the penultimate layer: timm's
`forward_head(forward_features(x), pre_logits=True)`, open_clip's `encode_image`, for torchvision models
the input of the last linear layer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from vitviz.core.errors import ConfigError, ModelSourceError
from vitviz.models.spec import ModelSpec
from vitviz.models.store import LoadedModel, load_model
from vitviz.models.transforms import eval_transform


def refuse_circular(similarity: str, explained_key: str, explained_name: str | None = None) -> None:
    """One-line error when the similarity model is the model being explained."""
    names = {explained_key, *( [explained_name] if explained_name else [])}
    bare = similarity.split(":", 1)[-1].split("/")[0].split(".")[0]
    if similarity in names or bare in names:
        raise ConfigError([f"score_features.similarity: {similarity!r} is the explained model {explained_key!r}, which "
                           "is circular; choose another model (e.g. a CNN key of `models`)"])


def penultimate(model: nn.Module, library: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The call that maps prepared images to penultimate-layer embeddings (B, D) for a model of `library`."""
    if library == "open_clip":
        return lambda x: model.encode_image(x)
    if library == "timm":
        return lambda x: model.forward_head(model.forward_features(x), pre_logits=True).flatten(1)
    if library == "dreamsim":
        return lambda x: model.embed(x)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ConfigError([f"score_features.similarity: {type(model).__name__} has no linear layer to read an embedding from"])

    def embed(x: torch.Tensor) -> torch.Tensor:
        got: list[torch.Tensor] = []
        h = last[-1].register_forward_hook(lambda m, i, o: got.append(i[0]))
        try:
            model(x)
        finally:
            h.remove()
        return got[0].flatten(1)
    return embed


@dataclass
class SimilarityModel:
    """A loaded similarity model and its embedding call."""
    name: str
    loaded: LoadedModel
    embed: Callable[[torch.Tensor], torch.Tensor]

    @torch.no_grad()
    def embed_images(self, images: list[np.ndarray], device: torch.device, batch_size: int = 64) -> torch.Tensor:
        """(n, D) fp32 embeddings of uint8 H x W x 3 images, prepared by the model's own eval transform."""
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.stack([self.loaded.transform(Image.fromarray(im)) for im in images[i:i + batch_size]])
            with self.loaded.autocast(device):
                out.append(self.embed(x.to(device)).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, 0)


def _dreamsim(device: torch.device) -> LoadedModel:
    try:
        from dreamsim import dreamsim  # type: ignore
    except ImportError as exc:
        raise ModelSourceError("score_features.similarity 'dreamsim': the dreamsim package is not installed; "
                               "install it and cache its weights, or name a timm/open_clip model") from exc
    cache = Path(os.environ.get("DREAMSIM_CACHE", "~/.cache/dreamsim")).expanduser()
    if not cache.is_dir() or not any(cache.iterdir()):
        raise ModelSourceError(f"score_features.similarity 'dreamsim': no cached weights in {cache} (set "
                               "DREAMSIM_CACHE); copy them there, or name a timm/open_clip model")
    model, _ = dreamsim(pretrained=True, cache_dir=str(cache), device=str(device))
    spec = ModelSpec(key="dreamsim", library="dreamsim", name="dreamsim", input_size=(3, 224, 224),
                     mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_pct=1.0)
    return LoadedModel(model.eval().requires_grad_(False), spec, eval_transform(spec))


def load_similarity(similarity: str, models_dir: str | Path, model_keys: list[str], device: torch.device,
                    explained_key: str, explained_name: str | None = None, runtime=None) -> SimilarityModel:
    """The similarity model named by `similarity` (see the module docstring), refusing the explained model."""
    refuse_circular(similarity, explained_key, explained_name)
    if similarity in model_keys:
        loaded = load_model(Path(models_dir) / similarity, device, runtime)
    elif similarity == "dreamsim":
        loaded = _dreamsim(device)
    else:
        from vitviz.models.settings import ModelEntry
        from vitviz.models.fetch import fetch
        lib, _, rest = similarity.partition(":") if ":" in similarity else ("timm", "", similarity)
        if lib == "open_clip":
            name, _, tag = rest.partition("/")
        elif lib == "timm":
            name, _, tag = rest.partition(".")
        else:
            raise ConfigError([f"score_features.similarity: {similarity!r} is unknown; use a model key, timm:<name>, "
                               "open_clip:<name>/<tag> or dreamsim"])
        model, spec = fetch(ModelEntry(source=lib, name=name, tag=tag or None), "similarity")
        loaded = LoadedModel(model.eval().requires_grad_(False), spec, eval_transform(spec))
    model = loaded.prepare(device) if loaded.spec.library != "dreamsim" else loaded.model.to(device)
    return SimilarityModel(similarity, loaded, penultimate(model, loaded.spec.library))
