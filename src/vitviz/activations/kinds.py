"""The kinds of hookable activation of a transformer block: the one list every part of vitviz reads."""
from __future__ import annotations

from typing import Literal

# ffn: the FFN activation output (the paper's features); attn.in: the attention's input; attn.q/k/v: queries,
# keys and values before the split into heads.
KINDS = ("ffn", "attn.in", "attn.q", "attn.k", "attn.v")
Kind = Literal[KINDS]
