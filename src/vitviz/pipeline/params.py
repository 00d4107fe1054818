"""All params of the pipeline: one section per stage, each the type its package declares (and its library
takes), and the rules that tie sections together. `check_params` validates a whole file with it before any stage
runs; a stage reads only its own sections (`core.settings.read_sections`)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from vitviz.atlas.settings import AtlasConfig
from vitviz.core.runtime import Runtime
from vitviz.core.settings import Strict, parse, read_yaml, rule_errors
from vitviz.data.settings import PrepareDataConfig
from vitviz.evaluation.settings import LowpassEvalConfig, MaskEvalConfig
from vitviz.exemplars.settings import MineConfig
from vitviz.models.settings import DownloadConfig, ModelEntry
from vitviz.activations.kinds import LATENT, is_latent
from vitviz.report.settings import ReportConfig
from vitviz.sae.settings import SAEConfig
from vitviz.scoring.settings import ScoreConfig
from vitviz.token_mixing.settings import AppendixFConfig, TokenMixingConfig
from vitviz.visualization.settings import OptimizeConfig

MODEL_SECTIONS = ("optimize_features", "mine_exemplars", "mask_eval", "lowpass_eval", "token_mixing", "appendix_f",
                  "atlas", "score_features", "sae")


LAUNCHER_PATTERN = r"^(python3?|torchrun( +--[a-z][a-z_-]*(=[A-Za-z0-9_.:/-]+)?)*)$"


class Params(Strict):
    """All parameters of the pipeline, one section per stage."""
    launcher: str = Field("python", json_schema_extra={"pattern": LAUNCHER_PATTERN},
                          description="how dataset-pass stages start: python, or torchrun --nproc_per_node=N "
                                      "(with --flag or --flag=value options only: it reaches a shell command)")
    prepare_data: PrepareDataConfig = Field(default_factory=PrepareDataConfig)
    models: dict[str, ModelEntry] = Field(default_factory=dict, description="the model zoo, by model key")
    download_models: DownloadConfig = Field(default_factory=DownloadConfig)
    optimize_features: OptimizeConfig = Field(default_factory=OptimizeConfig)
    mine_exemplars: MineConfig = Field(default_factory=MineConfig)
    mask_eval: MaskEvalConfig = Field(default_factory=MaskEvalConfig)
    lowpass_eval: LowpassEvalConfig = Field(default_factory=LowpassEvalConfig)
    token_mixing: TokenMixingConfig = Field(default_factory=TokenMixingConfig)
    appendix_f: AppendixFConfig = Field(default_factory=AppendixFConfig)
    atlas: AtlasConfig = Field(default_factory=AtlasConfig)
    score_features: ScoreConfig = Field(default_factory=ScoreConfig)
    sae: SAEConfig = Field(default_factory=SAEConfig, description="sparse autoencoders (dictionary features; ours)")
    report: ReportConfig = Field(default_factory=ReportConfig)
    speed: Runtime = Field(default_factory=Runtime, description="fast paths of every dataset pass and of feature "
                                                                "optimisation; each one can be switched off")

    @field_validator("launcher")
    @classmethod
    def _launcher(cls, v: str) -> str:
        if not re.fullmatch(LAUNCHER_PATTERN, v):
            raise PydanticCustomError("launcher", "{v} is not allowed (it reaches a shell command); use python, or "
                                      "torchrun --nproc_per_node=N with more --flag or --flag=value options",
                                      {"v": repr(v)})
        return v

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        errors: list[tuple[tuple, str]] = []
        for name in self.models:
            if not (name.isascii() and name.replace("_", "").replace("-", "").isalnum()):
                errors.append((("models", name), "a model key may hold only letters, digits, '_' and '-'"))
        if not self.models:
            errors.append((("models",), "at least one model is needed"))
        keys = ", ".join(self.models)
        for section in MODEL_SECTIONS:
            for i, k in enumerate(getattr(self, section).models):
                if k not in self.models:
                    errors.append(((section, "models", i), f"{k!r} is not a model key; have: {keys}"))
        opt = self.optimize_features
        for i, k in enumerate(self.appendix_f.models):
            if k not in self.mine_exemplars.models or "ffn" not in self.mine_exemplars.kinds:
                errors.append((("appendix_f", "models", i),
                               f"Appendix F of {k!r} needs its mined FFN exemplars; add it to "
                               "mine_exemplars.models (with ffn in mine_exemplars.kinds), or remove it here"))
        for i, k in enumerate(self.atlas.models):
            if k not in opt.models or k not in self.mine_exemplars.models:
                errors.append((("atlas", "models", i),
                               f"the atlas of {k!r} needs its exemplars and visualised features; add it to "
                               "optimize_features.models and mine_exemplars.models, or remove it here"))
        sc = self.score_features
        if sc.models and sc.similarity not in self.models:
            errors.append((("score_features", "similarity"), f"{sc.similarity!r} is not a model key; have: {keys} "
                           "(the stage loads data/models/<similarity>: add the similarity model to `models`)"))
        for i, k in enumerate(sc.models):
            if k not in opt.models:
                errors.append((("score_features", "models", i), f"{k!r} has no visualisations; add it to "
                               "optimize_features.models, or remove it here"))
            entry = self.models.get(k)
            if sc.similarity == k or (entry is not None and sc.similarity.split(":")[-1].split("/")[0] == entry.name
                                      and entry.source != "train"):
                errors.append((("score_features", "similarity"), f"{sc.similarity!r} is the explained model {k!r}, "
                               "which is circular; choose another model (e.g. a CNN key of `models`)"))
        # visualising latents needs an SAE that gives them; mining takes the latent kinds there are (the
        # default lists resid.sae) and skips the others
        latent_kinds = {f"{site.split('.', 2)[-1]}{LATENT}" for site in self.sae.sites}
        for j, kind in enumerate(opt.select.kinds):
            if is_latent(kind) and (kind not in latent_kinds or not set(opt.models) & set(self.sae.models)):
                errors.append((("optimize_features", "select", "kinds", j),
                               f"{kind!r}: no model of optimize_features.models has an SAE on a "
                               f"{kind[:-len(LATENT)]} site; add one to sae.models and sae.sites, or remove the kind"))
        for k in opt.per_model:
            if k not in self.models:
                errors.append((("optimize_features", "per_model", k), f"not a model key; have: {keys}"))
        rule_errors("Params", errors)
        return self


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise ConfigError listing every bad key."""
    return parse(Params, data, source)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a whole params file."""
    return parse_params(read_yaml(path), str(path))


def schema_text() -> str:
    """The JSON Schema of params.yaml, as written to params.schema.json."""
    return json.dumps(Params.model_json_schema(), indent=2) + "\n"
