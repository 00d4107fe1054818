"""The kinds of hookable activation of a transformer block: the one list every part of vitviz reads."""
from __future__ import annotations

from typing import Literal

# Each kind and its label: the FFN activation output (the paper's features); the attention's input; queries, keys
# and values before the split into heads.
KIND_LABELS = {"ffn": "FFN", "attn.in": "attn input", "attn.q": "queries", "attn.k": "keys", "attn.v": "values"}
KINDS = tuple(KIND_LABELS)
Kind = Literal[KINDS]
