"""Sparse autoencoders (dictionary features). DRAFT."""
from vitviz.sae.errors import SAETrainingError
from vitviz.sae.metrics import DENSE_FRACTION, SAEScores, evaluate
from vitviz.sae.model import SparseAutoencoder, identity_sae, splice, topk_codes
from vitviz.sae.settings import SAESettings
from vitviz.sae.store import SavedSAE, load_sae, save_sae
from vitviz.sae.trainer import SAETrainer

__all__ = ["DENSE_FRACTION", "SAEScores", "SAESettings", "SAETrainer", "SAETrainingError", "SavedSAE",
           "SparseAutoencoder", "evaluate", "identity_sae", "load_sae", "save_sae", "splice", "topk_codes"]
