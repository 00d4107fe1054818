"""The kinds of hookable activation of a transformer block: the one list every part of vitviz reads."""
from __future__ import annotations

from typing import Literal

# Each kind and its label: the FFN activation output (the paper's features); the attention's input; queries, keys
# and values before the split into heads; the residual stream after the block; and the latents of a sparse
# autoencoder (dictionary features, ours) trained on one of those, named after it.
KIND_LABELS = {"ffn": "FFN", "attn.in": "attn input", "attn.q": "queries", "attn.k": "keys", "attn.v": "values",
               "resid": "residual stream", "ffn.sae": "SAE latents (FFN)", "resid.sae": "SAE latents (residual)",
               "attn.in.sae": "SAE latents (attn input)"}
KINDS = tuple(KIND_LABELS)
Kind = Literal[KINDS]
ATTENTION_KINDS = ("attn.in", "attn.q", "attn.k", "attn.v")
PAPER_KINDS = ("ffn", *ATTENTION_KINDS)    # the kinds the paper visualises (claim I); the others are ours
LATENT = ".sae"                 # the suffix of a latent kind and of a latent site's name
SAE_BASES = ("ffn", "resid", "attn.in")   # the kinds an SAE can be trained on (whole, unsliced activations)


def is_latent(kind: str) -> bool:
    """Whether a kind holds SAE latents rather than a model's own channels."""
    return kind.endswith(LATENT)
