"""The layer below every experiment: hookable sites, hooks, batches of a split, and the one streaming pass whose
accumulators compute every dataset statistic of a feature (top-k, means, histograms, per-image values, maps)."""
