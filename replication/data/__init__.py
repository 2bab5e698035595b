"""Video data on several sampling grids: I/O, data sets, resampling, samplers (Wu et al. 2020)."""
