"""Name features with words: CLIP text prompts that best match the image embeddings of a feature's exemplars.

Our extension, after CLIP-Dissect: for an open_clip model, each feature's top-k exemplar crops are embedded
with the image tower; the mean of their normalised embeddings is compared by cosine with the text embeddings
of the vocabulary's prompts (ImageNet class names and a shipped list of common words), and the best prompts
are the feature's labels, with the best one's margin over the next. The crops are embedded batch by batch and
only their embeddings are kept (bounded memory). The labels describe whole exemplar images, not the part
where the feature fires.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F


def default_vocabulary() -> list[str]:
    """ImageNet class names (the first synonym of each) plus the shipped common nouns, adjectives, prepositions."""
    from timm.data import ImageNetInfo
    names = [d.split(",")[0].strip() for d in ImageNetInfo().label_descriptions()]
    words = resources.files("vitviz").joinpath("exemplars/vocab/common_words.txt").read_text().splitlines()
    words = [w.strip() for w in words if w.strip() and not w.startswith("#")]
    return list(dict.fromkeys(names + words))


def load_vocabulary(spec: str) -> list[str]:
    """'default', or a text file with one entry per line ('#' lines ignored)."""
    if spec == "default":
        return default_vocabulary()
    lines = Path(spec).read_text().splitlines()
    return list(dict.fromkeys(w.strip() for w in lines if w.strip() and not w.startswith("#")))


def label_features(image_emb: torch.Tensor, text_emb: torch.Tensor, vocab: list[str], top: int = 3
                   ) -> list[list[tuple[str, float]]]:
    """For per-feature image embeddings (F, D) and prompt embeddings (V, D): the `top` prompts by cosine."""
    sims = F.normalize(image_emb.float(), dim=-1) @ F.normalize(text_emb.float(), dim=-1).T
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


def feature_embeddings(emb: dict[int, torch.Tensor], exemplar_rows: torch.Tensor) -> torch.Tensor:
    """Per feature (columns of `exemplar_rows`, (k, F)): the mean of its exemplars' normalised image embeddings
    (`emb` maps a split row to its embedding), normalised; zeros for a feature without exemplars."""
    dim = next(iter(emb.values())).shape[0]
    out = torch.zeros(exemplar_rows.shape[1], dim)
    for f in range(exemplar_rows.shape[1]):
        vs = [emb[int(r)] for r in exemplar_rows[:, f].tolist() if int(r) in emb]
        if vs:
            out[f] = F.normalize(torch.stack(vs).mean(0), dim=-1)
    return out


def concept_labels(loaded, result, index, vocab: list[str], template: str = "a photo of {}.", top: int = 3,
                   batch_size: int = 64):
    """A table (site, feature, label_1, score_1, ...) naming every mined feature of an open_clip model."""
    import open_clip
    import pandas as pd

    from vitviz.data.loader import batches
    if loaded.spec.library != "open_clip":
        raise ValueError(f"concept labels need an open_clip model with a text tower; {loaded.key!r} is "
                         f"{loaded.spec.library}")
    model = loaded.model
    rows = sorted({int(r) for r in result.indices.flatten().tolist() if r >= 0})
    dev = next(model.parameters()).device
    emb = {}  # streamed: each batch of exemplar crops is embedded at once, only the embeddings are kept
    with torch.no_grad():
        for b in batches(loaded, index, result.split, rows, batch_size, dev, desc=f"exemplar embeddings {loaded.key}"):
            if len(b):
                with loaded.autocast(dev):
                    e = model.encode_image(b.x)
                emb.update(zip(b.rows.tolist(), F.normalize(e.float(), dim=-1).cpu()))
        with loaded.autocast(dev):
            text = text_embeddings(model, open_clip.get_tokenizer(loaded.spec.name), vocab, template)
    feats = feature_embeddings(emb, result.indices)
    labels = label_features(feats, text, vocab, max(top, 2))
    out, col = [], 0
    for s in result.sites:
        for f in range(s.channels):
            rec = {"site": s.name, "feature": f}
            for j, (w, v) in enumerate(labels[col][:top], start=1):
                rec[f"label_{j}"], rec[f"score_{j}"] = w, round(v, 4)
            # the best label's lead over the next one (cosine); 0 when the vocabulary has one entry
            rec["margin"] = round(labels[col][0][1] - labels[col][1][1], 4) if len(labels[col]) > 1 else 0.0
            out.append(rec)
            col += 1
    return pd.DataFrame(out)
