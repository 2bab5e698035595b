"""Video backbones, FLOP counts and BatchNorm under multigrid (sub-batch BN, precise BN)."""
