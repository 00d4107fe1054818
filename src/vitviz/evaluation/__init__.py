"""Evaluations (paper section 5, Fig. 16): the one counting loop, accuracy, masking and low-pass filtering."""
