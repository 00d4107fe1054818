"""Every problem of a params file in one pass: the schema and the rules between sections, the model names and tags
their libraries know, the sites, features, layers and kinds each model has, and the ImageNet root."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitviz.core.errors import ConfigError
from vitviz.core.settings import parse, read_yaml
from vitviz.models.settings import ModelEntry
from vitviz.pipeline.params import Params, parse_params
from vitviz.pipeline.site_check import check_models, check_sites

SITE_SECTIONS = ("optimize_features", "mine_exemplars", "sae")


@dataclass
class Validation:
    """What `validate` found: one line per error, one note per model it could not check, the params if valid."""
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: Params | None = None


def _section(data: dict, name: str) -> Any | None:
    try:
        return parse(Params.model_fields[name].annotation, data.get(name), prefix=(name,))
    except ConfigError:
        return None


def validate(path: str | Path) -> Validation:
    """Check the params file at `path`; a section with schema errors is left out of the checks that need it (its
    defaults stand in), the others still run, so one pass shows everything."""
    out = Validation()
    try:
        data = read_yaml(path)
    except ConfigError as exc:
        out.errors += exc.errors
        return out
    try:
        out.params = parse_params(data, str(path))
        sections = {name: getattr(out.params, name) for name in Params.model_fields}
    except ConfigError as exc:
        out.errors += exc.errors
        sections = {name: _section(data, name) for name in ("prepare_data", *SITE_SECTIONS)}
        entries = {}
        for key, raw in (data.get("models") or {}).items() if isinstance(data.get("models"), dict) else ():
            try:
                entries[key] = parse(ModelEntry, raw, prefix=("models", key))
            except ConfigError:
                pass
        sections["models"] = entries
    # a section with schema errors takes its defaults here (no models), so the site checks of the others still run
    partial = Params.model_construct(**{k: v for k, v in sections.items() if v is not None})
    out.errors += check_models(partial)
    report = check_sites(partial)
    out.errors += report.errors
    out.notes += report.notes
    prep = sections.get("prepare_data")
    if prep is not None and prep.source == "imagenet" and prep.imagenet_root \
            and not Path(prep.imagenet_root).expanduser().is_dir():
        out.errors.append(f"prepare_data.imagenet_root: {prep.imagenet_root} is not a folder; set it to your "
                          "ImageNet root")
    out.errors = list(dict.fromkeys(out.errors))
    if out.errors:
        out.params = None
    return out
