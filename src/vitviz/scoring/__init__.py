"""Scores of visualised features: activation ratio, selectivity, machine 2-AFC (MIS), seed agreement."""
