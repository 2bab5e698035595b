"""The multigrid schedule (Wu et al., CVPR 2020, section 3): pure math on the config, no torch."""
