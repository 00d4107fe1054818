"""Exemplars (paper sections 3 and 4): top-k mining, activation maps, locality and CLIP concept labels."""
