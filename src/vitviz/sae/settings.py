"""The settings of one sparse autoencoder and its training; also the `sae` section of params.yaml."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import InitErrorDetails, PydanticCustomError

from vitviz.activations.kinds import SAE_BASES
from vitviz.core.errors import ConfigError
from vitviz.core.settings import Split, Strict

Sparsity = Literal["topk", "batchtopk"]
TokensKind = Literal["patch", "all"]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class SAESettings:
    """A TopK (or BatchTopK) sparse autoencoder and how it is trained (Gao et al. 2024; Bussmann et al. 2024).

    expansion: dictionary width = expansion x the input dimension.
    sparsity: topk (exactly the k largest latents of each token fire) or batchtopk (the k x n largest over a
        batch of n tokens fire in training; at inference a latent fires above a threshold learnt in training).
    k: latents per token (topk), or on average (batchtopk).
    aux_k: latents of the AuxK loss, chosen among the dead ones; None: half the input dimension.
    aux_coef: weight of the AuxK loss (the reconstruction of the residual by dead latents).
    dead_tokens: a latent is dead once it has not fired for this many training tokens.
    lr, warmup_steps: Adam learning rate, reached linearly over the first warmup_steps steps.
    batch_tokens: tokens per optimisation step (over all processes); tokens: training tokens in all.
    seed: the initial dictionary (and nothing else: the caller orders the tokens).
    tokens_kind: which tokens of a ViT the caller feeds: patch tokens, or all (class and register tokens too).
    clip_grad: largest global gradient norm.
    """
    expansion: int = Field(16, ge=1, le=256, description="dictionary width = expansion x input dimension")
    sparsity: Sparsity = Field("topk", description="topk: k latents per token; batchtopk: k per token on average")
    k: int = Field(32, ge=1, description="active latents per token")
    aux_k: int | None = Field(None, ge=1, description="AuxK latents (among the dead); null: input dimension / 2")
    aux_coef: float = Field(1 / 32, ge=0.0, description="weight of the AuxK loss; 0 switches it off")
    dead_tokens: int = Field(1_000_000, ge=1, description="a latent is dead after this many tokens without firing")
    lr: float = Field(4e-4, gt=0.0, description="Adam learning rate after warm-up")
    warmup_steps: int = Field(100, ge=0, description="steps of linear learning-rate warm-up")
    batch_tokens: int = Field(4096, ge=1, description="tokens per optimisation step, over all processes")
    tokens: int = Field(10_000_000, ge=1, description="training tokens in all")
    seed: int = Field(0, ge=0, description="seed of the initial dictionary")
    tokens_kind: TokensKind = Field("patch", description="patch tokens only, or all tokens (class, registers)")
    clip_grad: float = Field(1.0, gt=0.0, description="largest global gradient norm")

    @model_validator(mode="after")
    def _enough_tokens(self) -> SAESettings:
        if self.tokens < self.batch_tokens:
            raise ValidationError.from_exception_data("SAESettings", [InitErrorDetails(
                type=PydanticCustomError("rule", "{msg}", {"msg": (
                    f"{self.tokens} is less than batch_tokens ({self.batch_tokens}): not one step; "
                    "raise tokens or lower batch_tokens")}), loc=("tokens",), input=self.tokens)])
        return self

    @property
    def steps(self) -> int:
        """Optimisation steps of the whole training (full batches of batch_tokens)."""
        return self.tokens // self.batch_tokens

    def width(self, input_dim: int) -> int:
        """Latents of the dictionary for inputs of `input_dim` dimensions."""
        return self.expansion * input_dim

    def aux_latents(self, input_dim: int) -> int:
        """Latents of the AuxK loss for inputs of `input_dim` dimensions."""
        return self.aux_k if self.aux_k is not None else max(1, input_dim // 2)

    def check(self, input_dim: int, source: str = "sae") -> None:
        """Refuse settings that do not fit inputs of `input_dim` dimensions: ConfigError, one line per key."""
        width = self.width(input_dim)
        errors = []
        if self.k >= width:
            errors.append(f"{source}.k: {self.k} is not below the dictionary width {width} (expansion "
                          f"{self.expansion} x input dim {input_dim}); lower k or raise expansion")
        if self.aux_k is not None and self.aux_k > width:
            errors.append(f"{source}.aux_k: {self.aux_k} is more than the dictionary width {width}; "
                          "lower aux_k or leave it null")
        if errors:
            raise ConfigError(errors, source)


class SAEConfig(Strict):
    """Section `sae` (ours): a sparse autoencoder per site of each model listed, trained on a split streamed through
    the model, scored on another; its latents are then sites `<site>.sae` for every stage that takes sites."""
    models: list[str] = Field(default_factory=list, description="model keys that get SAEs (transformers only)")
    sites: list[str] = Field(default_factory=lambda: ["blocks.3.resid"], min_length=1,
                             description="the sites the SAEs read: blocks.<l>.resid (the residual stream after block "
                             "l), blocks.<l>.ffn or blocks.<l>.attn.in")
    split: Split = Field("train", description="the tokens the SAEs train on")
    eval_split: Split = Field("val", description="held-out tokens for R^2, L0, dead and dense fractions, and the "
                              "model's top-1 with the reconstruction spliced in")
    eval_limit: int = Field(0, ge=0, description="images of eval_split; 0: all")
    compare: int = Field(6, ge=0, description="per SAE site: this many of the site's own channels and of its latents "
                         "are visualised and scored, for the comparison of neurons with dictionary features")
    compare_rule: Literal["random", "top_mean"] = Field(
        "random", description="how those are chosen, alike for both: random (a seeded sample of each, so that the "
        "comparison speaks for the whole site) or top_mean (the highest mean activation, as the paper picks its "
        "neurons; among latents these are the densest)")
    train: SAESettings = Field(default_factory=lambda: SAESettings(
        expansion=4, k=16, dead_tokens=50_000, lr=1e-3, warmup_steps=10, tokens=256_000),
        description="the SAE and its training (the library's SAESettings)")
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
    threads: int = Field(1, ge=1, le=256, description="intra-op threads of the SAE training, fixed so that the "
                         "trained dictionary is the same on every machine of one instruction set (its float sums "
                         "depend on the thread count); 1 measured byte-identical whatever the core count")

    @field_validator("sites")
    @classmethod
    def _sae_sites(cls, v: list[str]) -> list[str]:
        bases = "|".join(map(re.escape, SAE_BASES))
        bad = [s for s in v if not re.fullmatch(rf"blocks\.\d+\.({bases})", s)]
        if bad:
            raise PydanticCustomError("sae_site", "{bad} cannot have an SAE; allowed: {allowed}",
                                      {"bad": ", ".join(map(repr, bad)),
                                       "allowed": ", ".join(f"blocks.<l>.{k}" for k in SAE_BASES)})
        return v
