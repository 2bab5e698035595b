"""Which backbone to build, and the input it takes (pure torch; no pytorchvideo here).

:class:`BackboneSpec` is what :func:`replication.model.build_model` needs: the ``model`` section
of a run config with the class count resolved and the factories that make every BatchNorm and
the head's activation. Whether a family can be built at a depth is checked by the same rule the
config loader applies (:func:`replication.config.rules.check_backbone`), so an impossible config
fails when it loads, and a spec built by hand fails when it is made.

Input convention: a ``(B, 3, T, S, S)`` tensor; for SlowFast a list ``[slow, fast]`` with
``slow = clip[:, :, ::alpha]`` and ``fast = clip`` (see :func:`pack_pathways`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from replication.config import ConfigError, ModelConfig
from replication.config.rules import check_backbone
from replication.config.sections import Arch

ModuleFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class BackboneSpec:
    """A buildable backbone: family, size, classes and the norm and head factories.

    Raises:
        ConfigError: on a combination :func:`replication.model.build_model` cannot build
            (checked at creation).
    """

    arch: Arch = "slowfast"  # backbone family
    depth: int = 50  # ResNet depth 18/50/101 (r2plus1d, csn: 50/101); X3D: blocks 11/26/55
    width: int = 64  # stem channels of the ResNet; X3D/fast pathway scale theirs by width/64
    num_classes: int = 400  # logits produced by the head
    dropout: float = 0.5  # dropout before the classifier
    slowfast_alpha: int = 4  # SlowFast: fast/slow frame-rate ratio
    slowfast_beta_inv: int = 8  # SlowFast: slow/fast channel ratio; must divide width
    norm: ModuleFactory = nn.BatchNorm3d  # makes every BN: norm(num_features=, eps=, momentum=)
    head_activation: ModuleFactory | None = None  # None: raw logits (softmax lives in the loss)

    def __post_init__(self) -> None:
        for key in ("width", "num_classes", "slowfast_alpha", "slowfast_beta_inv"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}", f"must be positive, got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError("model.dropout", f"must be in [0, 1), got {self.dropout}")
        check_backbone(self.arch, self.depth, self.width, self.slowfast_beta_inv)

    @classmethod
    def from_config(
        cls, model: ModelConfig, data_classes: int, norm: ModuleFactory = nn.BatchNorm3d
    ) -> BackboneSpec:
        """The spec of a run config's ``model`` section; classes come from the data unless set."""
        return cls(
            arch=model.arch,
            depth=model.depth,
            width=model.width,
            num_classes=model.num_classes or data_classes,
            dropout=model.dropout,
            slowfast_alpha=model.slowfast_alpha,
            slowfast_beta_inv=model.slowfast_beta_inv,
            norm=norm,
        )


def slowfast_alpha(spec: BackboneSpec) -> int | None:
    """Frame-rate ratio of the two pathways, or None for single-pathway models."""
    return spec.slowfast_alpha if spec.arch == "slowfast" else None


def pack_pathways(clip: torch.Tensor, alpha: int | None) -> torch.Tensor | list[torch.Tensor]:
    """Turn a ``(B, 3, T, S, S)`` clip into the model's input (``[slow, fast]`` for SlowFast)."""
    return clip if alpha is None else [clip[:, :, ::alpha], clip]


def model_input_example(
    spec: BackboneSpec, batch: int, num_frames: int, crop: int
) -> torch.Tensor | list[torch.Tensor]:
    """Random input of the right structure for ``build_model(spec)``, e.g. to count FLOPs.

    Args:
        spec: the backbone (decides tensor vs. ``[slow, fast]`` list).
        batch: clips B.
        num_frames: frames T (of the fast pathway for SlowFast).
        crop: side S in pixels.
    """
    clip = torch.randn(batch, 3, num_frames, crop, crop)
    return pack_pathways(clip, slowfast_alpha(spec))
