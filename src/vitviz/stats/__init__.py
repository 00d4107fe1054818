"""Statistics of the report's claims: intervals over features with measured coverage (intervals), feature-level
permutation tests (permutation), verdict sentences (verdicts), Appendix F curves against proportional loss
(curves) and baselined CLIP concept labels (concepts).
Pure numpy (pandas for one table helper); every random draw comes from a seed."""
