"""Sparse autoencoders (dictionary features) on ViT activations: settings, module, trainer, scores, storage.

    settings.SAESettings   the `sae` params section and the argument of everything below
    model.SparseAutoencoder encode_pre / encode / decode on any (..., d) tensor; splice; identity_sae
    trainer.SAETrainer     step(tokens) -> metrics, alone or under torch.distributed (gloo or nccl)
    metrics.evaluate       R^2, L0, dead and dense fractions on held-out tokens
    store.save_sae/load_sae weights.safetensors + config.json, one atomic rename

Why not Overcomplete (PyPI `overcomplete` 0.3.0, MIT), checked 2026-12-04 beside this project's torch 2.13:
- `from overcomplete.sae import TopKSAE` raises AttributeError (its top-level __init__ imports its
  visualisation, which calls matplotlib.cm.get_cmap, gone since matplotlib 3.9; the project has 3.11). A shim
  (matplotlib.cm.get_cmap = matplotlib.colormaps.get_cmap before the import) works, but it is a monkey-patch
  of a third library, and a pin below 3.9 would hold the whole project back.
- It would add opencv-python, scikit-image, scikit-learn, scipy, einops and 7 more packages (528 MB
  installed; cv2, skimage, sklearn and scipy all loaded by that import, 2.8 s on top of torch) for the ~250
  lines of torch of model.py and trainer.py; and it caps Python below 3.13.
- What is needed is missing: no decoder bias (x^ = z D, so no mean initialisation); the decoder is
  re-normalised inside get_dictionary, without the projection of its gradient; the encoder is initialised
  independently of the dictionary (Xavier), not as its transpose; its AuxK loss uses half of all unchosen
  latents, not the dead ones, and it keeps no firing counts; no seed (the global RNG); encode asserts a 2-D
  input, so not a hooked (batch, tokens, d) activation; BatchTopK keeps its threshold in a plain attribute
  (not saved, not merged across ranks); in eval mode it serves a dictionary fused at .eval() time, stale
  after load_state_dict; no distributed training.
- sae.md measured its plain TopKSAE on the planted-dictionary test: R^2 0.75, 60% dead, 62 of 128 atoms.
  This module on the same recipe: R^2 0.960, all 128 atoms at cosine >= 0.998 (tests/test_sae.py); without
  its initialisation and AuxK it falls to the same failure: R^2 0.70-0.80, 57-64% dead, 68-104 atoms
  (benchmarks/sae_ablation.py, seeds 0-2).
So the module is our own (small, torch only). No scipy either: the known-answer test carries its own
exact Hungarian matching.
"""
from importlib import import_module

_EXPORTS = {"SAETrainingError": "errors", "DENSE_FRACTION": "metrics", "SAEScores": "metrics", "evaluate": "metrics",
            "SparseAutoencoder": "model", "identity_sae": "model", "splice": "model", "topk_codes": "model",
            "SAESettings": "settings", "SavedSAE": "store", "load_sae": "store", "save_sae": "store",
            "SAETrainer": "trainer"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """The public names above, imported on first use (the settings alone must load without torch)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vitviz.sae' has no attribute {name!r}")
    return getattr(import_module(f"vitviz.sae.{_EXPORTS[name]}"), name)
