"""Name features with words: CLIP text prompts that best match the image embeddings of a feature's exemplars.

Our extension, after CLIP-Dissect: for an open_clip model, each feature is described by the part of its top
exemplars where it fires: a square crop (side `region` of the input) centred on the peak patch of the
feature's stored activation map on that exemplar, resized to the input and embedded with the image tower.
A prompt's score for a feature is its mean cosine over those crops minus its mean cosine over reference crops
(the same region, centred, of a sample of the split): raw cosine favours prompts close to every image, which
would win every feature (vitviz.stats.concepts). The vocabulary is the prompts of ImageNet class names and a
shipped list of common words, without function words; the best prompts are the feature's labels, with the best
one's margin over the next. Exemplars without a stored map (beyond maps_top, or a site
without a patch grid) are embedded whole. Crops are made and embedded batch by batch and only per-feature
sums of embeddings are kept (bounded memory).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

from vitviz.data.rows import spread_rows
from vitviz.stats.concepts import content_words, prompt_baseline


def default_vocabulary() -> list[str]:
    """ImageNet class names (the first synonym of each) plus the shipped common words, without function words."""
    from timm.data import ImageNetInfo
    names = [d.split(",")[0].strip() for d in ImageNetInfo().label_descriptions()]
    words = resources.files("vitviz").joinpath("exemplars/vocab/common_words.txt").read_text().splitlines()
    words = [w.strip() for w in words if w.strip() and not w.startswith("#")]
    return content_words(list(dict.fromkeys(names + words)))


def load_vocabulary(spec: str) -> list[str]:
    """'default', or a text file with one entry per line ('#' lines ignored)."""
    if spec == "default":
        return default_vocabulary()
    lines = Path(spec).read_text().splitlines()
    return list(dict.fromkeys(w.strip() for w in lines if w.strip() and not w.startswith("#")))


def label_features(mean_emb: torch.Tensor, text_emb: torch.Tensor, vocab: list[str], top: int = 3,
                   baseline: torch.Tensor | None = None) -> list[list[tuple[str, float]]]:
    """For per-feature means of normalised image embeddings (F, D) (so that a dot product is the mean cosine) and
    prompt embeddings (V, D): the `top` prompts by mean cosine minus each prompt's `baseline` (V,)."""
    sims = mean_emb.float() @ F.normalize(text_emb.float(), dim=-1).T
    if baseline is not None:
        sims = sims - baseline.float()
    vals, idx = sims.topk(min(top, len(vocab)), dim=1)
    return [[(vocab[j], float(v)) for j, v in zip(ri.tolist(), rv.tolist())] for ri, rv in zip(idx, vals)]


@torch.no_grad()
def text_embeddings(model, tokenizer, vocab: list[str], template: str = "a photo of {}.", batch: int = 256
                    ) -> torch.Tensor:
    """Normalised text embeddings (V, D) of the vocabulary's prompts."""
    out = []
    for i in range(0, len(vocab), batch):
        tokens = tokenizer([template.format(w) for w in vocab[i:i + batch]])
        out.append(F.normalize(model.encode_text(tokens.to(next(model.parameters()).device)).float(), dim=-1))
    return torch.cat(out).cpu()


REFERENCES = 256      # images of the split whose crops set each prompt's baseline


def centre_box(size: tuple[int, int], region: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred square crop of side `region` * the input side."""
    H, W = size
    h, w = max(1, round(region * H)), max(1, round(region * W))
    return (H - h) // 2, (W - w) // 2, h, w


def peak_box(amap: torch.Tensor, size: tuple[int, int], region: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) in pixels of the square crop of side `region` * the input side centred on the
    peak patch of a (gh, gw) activation map over an input of `size` (H, W), shifted to stay inside it."""
    H, W = size
    gh, gw = amap.shape
    i, j = divmod(int(torch.nan_to_num(amap.float(), nan=float("-inf")).flatten().argmax()), gw)
    h, w = max(1, round(region * H)), max(1, round(region * W))
    cy, cx = (i + 0.5) * H / gh, (j + 0.5) * W / gw
    top = min(max(round(cy - h / 2), 0), H - h)
    left = min(max(round(cx - w / 2), 0), W - w)
    return top, left, h, w


def crop_resized(x: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """The `box` of a (C, H, W) image, resized back to (C, H, W) (bicubic, antialiased)."""
    top, left, h, w = box
    part = x[None, :, top:top + h, left:left + w]
    if (h, w) == tuple(x.shape[-2:]):
        return part[0]
    return F.interpolate(part.float(), size=x.shape[-2:], mode="bicubic", align_corners=False,
                         antialias=True)[0].to(x.dtype)


def _regions(result, maps: dict[str, torch.Tensor]) -> dict[int, list[tuple[int, torch.Tensor | None]]]:
    """Per exemplar split row: (feature column, its activation map on that image or None) for every feature whose
    top-k holds the row."""
    out: dict[int, list] = {}
    col = 0
    for s in result.sites:
        m = maps.get(s.name)
        for f in range(s.channels):
            for rank, r in enumerate(result.indices[:, col].tolist()):
                if r >= 0:
                    amap = m[f, rank] if m is not None and rank < m.shape[1] else None
                    out.setdefault(int(r), []).append((col, None if amap is None or torch.isnan(amap).all()
                                                       else amap))
            col += 1
    return out


def concept_labels(loaded, result, index, vocab: list[str], template: str = "a photo of {}.", top: int = 3,
                   batch_size: int = 64, maps: dict[str, torch.Tensor] | None = None, region: float = 0.5):
    """A table (site, feature, label_1, score_1, ..., margin) naming every mined feature of an open_clip model
    from the crops of its exemplars around its activation peak (`maps` as mining stores them)."""
    import open_clip
    import pandas as pd

    from vitviz.activations.loader import batches
    if loaded.spec.library != "open_clip":
        raise ValueError(f"concept labels need an open_clip model with a text tower; {loaded.key!r} is "
                         f"{loaded.spec.library}")
    model = loaded.model
    wanted = _regions(result, maps or {})
    dev = next(model.parameters()).device
    sums, counts = None, torch.zeros(result.indices.shape[1])

    def embed(crops: list[torch.Tensor], cols: list[int]) -> None:
        nonlocal sums
        with loaded.autocast(dev):
            e = F.normalize(model.encode_image(torch.stack(crops)).float(), dim=-1).cpu()
        if sums is None:
            sums = torch.zeros(result.indices.shape[1], e.shape[1])
        sums.index_add_(0, torch.tensor(cols), e)
        counts.index_add_(0, torch.tensor(cols), torch.ones(len(cols)))

    with torch.no_grad():  # streamed: crops of one image batch are embedded in chunks, only sums are kept
        for b in batches(loaded, index, result.split, sorted(wanted), batch_size, dev,
                         desc=f"concept crops {loaded.key}"):
            crops, cols = [], []
            for x, r in zip(b.x, b.rows.tolist()):
                for col, amap in wanted[int(r)]:
                    crops.append(x if amap is None or region >= 1 else
                                 crop_resized(x, peak_box(amap, tuple(x.shape[-2:]), region)))
                    cols.append(col)
                    if len(crops) == batch_size:
                        embed(crops, cols)
                        crops, cols = [], []
            if crops:
                embed(crops, cols)
        # the reference crops: the same region, centred, of a sample of the split
        ref = []
        for b in batches(loaded, index, result.split, spread_rows(len(index.split(result.split)), REFERENCES),
                         batch_size, dev, desc=f"concept references {loaded.key}"):
            crops = [x if region >= 1 else crop_resized(x, centre_box(tuple(x.shape[-2:]), region)) for x in b.x]
            if crops:
                with loaded.autocast(dev):
                    ref.append(F.normalize(model.encode_image(torch.stack(crops)).float(), dim=-1).cpu())
        with loaded.autocast(dev):
            text = text_embeddings(model, open_clip.get_tokenizer(loaded.spec.name), vocab, template)
    if sums is None:
        sums = torch.zeros(result.indices.shape[1], text.shape[1])
    baseline = torch.as_tensor(prompt_baseline(torch.cat(ref).numpy(), text.numpy()), dtype=torch.float32) \
        if ref else None
    feats = sums / counts.clamp(min=1)[:, None]   # mean of normalised embeddings (zeros without exemplars)
    labels = label_features(feats, text, vocab, max(top, 2), baseline)
    out, col = [], 0
    for s in result.sites:
        for f in range(s.channels):
            rec = {"site": s.name, "feature": f}
            for j, (w, v) in enumerate(labels[col][:top], start=1):
                rec[f"label_{j}"], rec[f"score_{j}"] = w, round(v, 4)
            # the best label's lead over the next one (baselined scores); 0 when the vocabulary has one entry
            rec["margin"] = round(labels[col][0][1] - labels[col][1][1], 4) if len(labels[col]) > 1 else 0.0
            out.append(rec)
            col += 1
    return pd.DataFrame(out)
