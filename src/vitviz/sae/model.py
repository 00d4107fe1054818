"""The sparse autoencoder: a linear encoder, a sparsity rule (TopK or BatchTopK) and a dictionary of unit atoms.

    pre = W_enc (x - b_dec) + b_enc          encode_pre: dense, the objective of feature visualisation
    z   = sparsify(pre)                      encode: non-negative, k latents per token (on average for batchtopk)
    x^  = z W_dec + b_dec                    decode: row j of W_dec is atom j, of unit norm

Every method takes any (..., d) tensor, so the same module serves a training batch of tokens (n, d) and a
hooked activation (batch, tokens, d).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from vitviz.sae.settings import SAESettings


class SparseAutoencoder(nn.Module):
    """A dictionary of `settings.width(input_dim)` unit atoms, initialised from `settings.seed` alone.

    The encoder starts as the decoder's transpose (W_enc = W_dec), both biases at zero; the trainer sets b_dec
    to the mean of its first batch. `threshold` is the inference threshold of batchtopk (unused by topk)."""

    def __init__(self, input_dim: int, settings: SAESettings):
        super().__init__()
        settings.check(input_dim)
        self.settings, self.input_dim = settings, input_dim
        self.width = settings.width(input_dim)
        gen = torch.Generator().manual_seed(settings.seed)
        atoms = torch.randn(self.width, input_dim, generator=gen, dtype=torch.float64)
        atoms = (atoms / atoms.norm(dim=1, keepdim=True)).float()
        self.W_dec = nn.Parameter(atoms)
        self.W_enc = nn.Parameter(atoms.clone())
        self.b_enc = nn.Parameter(torch.zeros(self.width))
        self.b_dec = nn.Parameter(torch.zeros(input_dim))
        self.register_buffer("threshold", torch.zeros(()))

    @property
    def k(self) -> int:
        return self.settings.k

    @property
    def dictionary(self) -> Tensor:
        """The atoms, (width, input_dim), each of unit norm (a detached view)."""
        return self.W_dec.detach()

    def encode_pre(self, x: Tensor) -> Tensor:
        """The dense pre-activations (..., width) before any sparsity: never a zero gradient."""
        x = x.to(self.W_enc.dtype)
        return torch.nn.functional.linear(x - self.b_dec, self.W_enc, self.b_enc)

    def sparsify(self, pre: Tensor) -> Tensor:
        """The codes of pre-activations at inference: the k largest (topk) or those above threshold (batchtopk),
        negative values set to zero."""
        if self.settings.sparsity == "batchtopk":
            return torch.where(pre > self.threshold.clamp(min=0), pre, torch.zeros_like(pre))
        return topk_codes(pre, self.k)

    def encode(self, x: Tensor) -> Tensor:
        """The sparse non-negative codes (..., width) of x (..., input_dim)."""
        return self.sparsify(self.encode_pre(x))

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction (..., input_dim) from codes (..., width)."""
        if not torch.is_autocast_enabled(z.device.type):     # under autocast the product casts for itself
            z = z.to(self.W_dec.dtype)
        return z @ self.W_dec + self.b_dec

    def decode_sparse(self, values: Tensor, indices: Tensor) -> Tensor:
        """decode() of codes given as their nonzero `values` at latents `indices` (n, k) (a TopK code): k atoms per
        token are summed instead of a product with the whole dictionary."""
        return torch.nn.functional.embedding_bag(indices, self.W_dec, per_sample_weights=values.to(self.W_dec.dtype),
                                                 mode="sum") + self.b_dec

    def forward(self, x: Tensor) -> Tensor:
        """decode(encode(x))."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_atoms_(self) -> None:
        """Scale every atom (row of W_dec) back to unit norm."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-12))

    @torch.no_grad()
    def remove_parallel_grad_(self) -> None:
        """Remove from each atom's gradient its component along the atom (the step then moves along the sphere)."""
        if self.W_dec.grad is not None:
            g, w = self.W_dec.grad, self.W_dec
            g.sub_((g * w).sum(dim=1, keepdim=True) * w)


def topk_sparse(pre: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest entries of each row of `pre` (last dimension), negatives set to zero, and their latents (in no
    particular order)."""
    values, idx = pre.topk(k, dim=-1, sorted=False)
    return values.clamp(min=0), idx


def topk_codes(pre: Tensor, k: int) -> Tensor:
    """The k largest entries of each row of `pre` (last dimension), negatives set to zero; zeros elsewhere."""
    values, idx = topk_sparse(pre, k)
    return torch.zeros_like(pre).scatter(-1, idx, values)


def splice(sae: SparseAutoencoder, x: Tensor) -> Tensor:
    """The SAE reconstruction decode(encode(x)) of an activation x (..., d), in x's dtype, to replace x in a
    forward hook; gradients flow through it."""
    return sae(x).to(x.dtype)


def identity_sae(input_dim: int) -> SparseAutoencoder:
    """An SAE that reconstructs every input exactly: atoms [I; -I] (width 2d), k = d, zero biases.

    Of +x and -x, the d largest entries hold |x_i| for each i, so z W_dec = x+ - x- = x (for tests of splicing)."""
    sae = SparseAutoencoder(input_dim, SAESettings(expansion=2, k=input_dim))
    eye = torch.eye(input_dim)
    with torch.no_grad():
        sae.W_dec.copy_(torch.cat([eye, -eye]))
        sae.W_enc.copy_(sae.W_dec)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval().requires_grad_(False)
