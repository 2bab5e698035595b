"""The training engine: the loop, its state and checkpoints, evaluation, provenance."""
