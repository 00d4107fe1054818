"""Token mixing (paper section 4): the Table 1 probes and Appendix F."""
