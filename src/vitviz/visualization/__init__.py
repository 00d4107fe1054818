"""Feature visualization (paper section 3): objectives, augmentations, the optimisation, target selection, storage."""
