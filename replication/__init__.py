"""Multigrid training replication suite (Wu, Girshick, He, Feichtenhofer, Krähenbühl, CVPR 2020).

Importing the package does no work: the heavy libraries (torch, pytorchvideo, submitit) enter
through the modules that need them.
"""

__version__ = "0.1.0"
