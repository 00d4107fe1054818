"""vitviz: what do vision transformers learn? Feature visualization, exemplars and probes for ViTs.

The public API is re-exported here lazily, so that importing one part of the library never imports the rest
(each pipeline stage then depends on exactly the modules it uses).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "vitviz.models.store",
    "LoadedModel": "vitviz.models.store",
    "list_sites": "vitviz.activations.sites",
    "attach_saes": "vitviz.activations.sites",
    "load_saes": "vitviz.sae.store",
    "stream": "vitviz.activations.stream",
    "Target": "vitviz.visualization.optimize",
    "VisSettings": "vitviz.visualization.settings",
    "visualize": "vitviz.visualization.optimize",
    "mine": "vitviz.exemplars.mining",
    "activation_maps": "vitviz.exemplars.mining",
    "evaluate": "vitviz.evaluation.accuracy",
    "mask_eval": "vitviz.evaluation.masking",
    "lowpass_eval": "vitviz.evaluation.lowpass",
    "run_probes": "vitviz.token_mixing.probes",
    "appendix_f": "vitviz.token_mixing.appendix_f",
    "load_params": "vitviz.pipeline.params",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vitviz' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
