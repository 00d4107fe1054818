"""The optimisation recipe of a features folder, rebuilt from its settings.json (so scoring never re-reads params)."""
from __future__ import annotations

import dataclasses

from vitviz.visualization.augment import AugmentConfig
from vitviz.visualization.optimize import VisSettings


def settings_from_json(d: dict) -> VisSettings:
    """The VisSettings that `write_features` stored as a dict (unknown keys ignored)."""
    names = {f.name for f in dataclasses.fields(VisSettings)}
    aug = {f.name for f in dataclasses.fields(AugmentConfig)}
    kw = {k: v for k, v in d.items() if k in names and k != "augment"}
    kw["betas"] = tuple(kw.get("betas", VisSettings.betas))
    return VisSettings(**kw, augment=AugmentConfig(**{k: v for k, v in d.get("augment", {}).items() if k in aug}))
