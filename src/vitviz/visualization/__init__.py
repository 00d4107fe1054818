"""Feature visualization (paper section 3): the recipe, objectives, augmentations, the optimisation, target selection,
resumable runs and storage."""
