"""The pieces of a training step, kept out of ``train.py`` so the loop stays readable.

:class:`Network` owns the model, its optional DDP wrapper and the device details (autocast,
channels-last), and runs one optimisation step; :func:`clip_gflops` caches FLOPs per grid shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from replication.config import RunConfig
from replication.flops import gflops_per_clip
from replication.models import ModelConfig as BackboneConfig
from replication.models import build_model, model_input_example, slowfast_alpha
from replication.schedule import BNMode


@dataclass(frozen=True)
class Step:
    """What one training iteration reports."""

    loss: float
    batch_size: int  # clips on this process
    shape: tuple[int, int]  # (T, S) of the batch
    grid: int
    compute_s: float


def to_device(video: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move a clip tensor (or a list of SlowFast pathways) to ``device``."""
    if isinstance(video, list):
        return [to_device(v, device, channels_last) for v in video]
    video = video.to(device, non_blocking=True)
    return video.contiguous(memory_format=torch.channels_last_3d) if channels_last else video


@dataclass
class Network:
    """A model on a device, with the settings every forward pass needs."""

    model: nn.Module
    backbone: BackboneConfig
    device: torch.device
    alpha: int | None
    multi_label: bool
    amp: bool
    channels_last: bool
    bn_mode: BNMode = field(default_factory=lambda: BNMode("batch"))  # current BN form
    wrapped: nn.Module | None = None
    flops_cache: dict = field(default_factory=dict)

    def rewrap(self) -> None:
        """(Re)build the DDP wrapper after BN modules were swapped in place."""
        self.model.to(self.device)
        if (
            torch.distributed.is_available()
            and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1
        ):
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.wrapped = self.model

    def _forward(self, video: Any) -> torch.Tensor:
        video = to_device(video, self.device, self.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return (self.wrapped or self.model)(video)

    def loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy, or per-class sigmoid BCE for multi-label data."""
        label = label.to(self.device)
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), label)
        return F.cross_entropy(logits.float(), label)

    def step(self, batch: dict[str, Any], optimizer: torch.optim.Optimizer) -> Step:
        """Forward, loss, backward and optimizer step on one batch."""
        start = time.perf_counter()
        logits = self._forward(batch["video"])
        loss = self.loss(logits, batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = loss.item()  # synchronises, so compute_s covers the GPU work too
        video = batch["video"][-1] if isinstance(batch["video"], list) else batch["video"]
        shape = (int(video.shape[2]), int(video.shape[3]))
        return Step(
            value, int(video.shape[0]), shape, int(batch["grid"][0]), time.perf_counter() - start
        )

    @torch.no_grad()
    def predict(self, video: Any) -> torch.Tensor:
        """Logits for evaluation (the caller puts the model in eval mode)."""
        return self._forward(video)


def build_network(
    cfg: RunConfig, data_classes: int, multi_label: bool, device: torch.device
) -> Network:
    """The configured backbone on ``device``; classes come from the data unless set."""
    m = cfg.model
    backbone = BackboneConfig(
        arch=m.arch,
        depth=m.depth,
        width=m.width,
        num_classes=m.num_classes or data_classes,
        dropout=m.dropout,
        slowfast_alpha=m.slowfast_alpha,
        slowfast_beta_inv=m.slowfast_beta_inv,
    )
    model = build_model(backbone)
    cuda = device.type == "cuda"
    net = Network(
        model,
        backbone,
        device,
        slowfast_alpha(backbone),
        multi_label=multi_label,
        amp=cuda and cfg.train.mixed_precision,
        channels_last=cuda and cfg.train.channels_last,
    )
    if net.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    net.rewrap()
    return net


def clip_gflops(net: Network, shape: tuple[int, int]) -> float:
    """Forward GFLOPs of one clip at (T, S), counted once per shape."""
    if shape not in net.flops_cache:
        example = to_device(model_input_example(net.backbone, 1, shape[0], shape[1]), net.device)
        net.flops_cache[shape] = gflops_per_clip(net.model, example)
    return net.flops_cache[shape]
