"""CLIP concept labels with a per-prompt baseline, and a vocabulary without function words.

Raw cosine favours prompts that are close to every image ("a photo of on."): such a prompt can win every
feature. The score of prompt p for a feature is its mean cosine over the feature's exemplar embeddings minus
its mean cosine over a reference set of images (a sample of the split, embedded the same way): what the
feature's exemplars share with p beyond what any image does.
"""
from __future__ import annotations

import numpy as np

# function words: articles, prepositions (spatial ones included), pronouns, conjunctions
STOP_WORDS = frozenset("""
a an the
about above across after against along among around at before behind below beneath beside besides between
beyond by down during for from in inside into near of off on onto out outside over past through throughout to
toward towards under underneath until up upon via with within without
i me my mine you your yours he him his she her hers it its we us our ours they them their theirs this that
these those who whom whose which what
and or but nor so yet if because while although though than as
""".split())


def content_words(words, stop: frozenset[str] = STOP_WORDS) -> list[str]:
    """The vocabulary without entries made only of function words (case-insensitive; order kept)."""
    return [w for w in words if not all(t in stop for t in w.lower().split())]


def _unit(e) -> np.ndarray:
    e = np.asarray(e, dtype=float)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def prompt_baseline(reference_emb, text_emb) -> np.ndarray:
    """(P,) each prompt's mean cosine similarity over reference image embeddings (m, d)."""
    return (_unit(reference_emb) @ _unit(text_emb).T).mean(0)

