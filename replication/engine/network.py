"""One training step on a device, kept out of the loop (:mod:`replication.engine.loop`).

:class:`Network` owns the model, its optional DDP wrapper and the device details (autocast,
channels-last), and runs one optimisation step; :func:`clip_gflops` caches FLOPs per grid shape.

On CUDA the config chooses the arithmetic (``train.precision``: fp32, the paper's reference, or
bf16/fp16 autocast, fp16 with a gradient scaler), the layout (``train.memory_format``) and
whether cuDNN benchmarks its algorithms per shape; a CPU always trains in fp32, contiguous.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from replication.config import RunConfig
from replication.data.on_device import resample_on_device
from replication.model import (
    BackboneSpec,
    gflops_per_clip,
    model_input_example,
    slowfast_alpha,
)
from replication.model.builders import build_model
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
    video = video.to(device, non_blocking=True)  # asynchronous from pinned loader memory
    return video.contiguous(memory_format=torch.channels_last_3d) if channels_last else video


@dataclass
class Network:
    """A model on a device, with the settings every forward pass needs."""

    model: nn.Module
    backbone: BackboneSpec
    device: torch.device
    alpha: int | None
    multi_label: bool
    amp: torch.dtype | None  # autocast dtype; None (or False) trains in fp32
    channels_last: bool
    bn_mode: BNMode = field(default_factory=lambda: BNMode("batch"))  # current BN form
    scaler: torch.amp.GradScaler | None = None  # fp16 only: loss scaling against underflow
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

    def _forward(self, video: Any, module: nn.Module | None = None) -> torch.Tensor:
        video = to_device(video, self.device, self.channels_last)
        dtype = self.amp or torch.float32
        with torch.autocast(self.device.type, dtype=dtype, enabled=bool(self.amp)):
            return (module or self.wrapped or self.model)(video)

    def loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy, or per-class sigmoid BCE for multi-label data."""
        label = label.to(self.device, non_blocking=True)
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), label)
        return F.cross_entropy(logits.float(), label)

    def device_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``batch`` with uint8 crop boxes (``data.resample_on: device``) finished on the device."""
        if "box_size" not in batch:
            return batch
        return resample_on_device(batch, self.device, self.alpha)

    def step(self, batch: dict[str, Any], optimizer: torch.optim.Optimizer) -> Step:
        """Forward, loss, backward and optimizer step on one batch."""
        start = time.perf_counter()
        batch = self.device_batch(batch)  # its time counts as compute, not data wait
        logits = self._forward(batch["video"])
        loss = self.loss(logits, batch["label"])
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:  # fp16: scaled gradients, a step skipped on inf/nan, the scale adapted
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        value = loss.item()  # synchronises, so compute_s covers the GPU work too
        video = batch["video"][-1] if isinstance(batch["video"], list) else batch["video"]
        shape = (int(video.shape[2]), int(video.shape[3]))
        return Step(
            value, int(video.shape[0]), shape, int(batch["grid"][0]), time.perf_counter() - start
        )

    @torch.no_grad()
    def predict(self, video: Any) -> torch.Tensor:
        """Logits for evaluation (the caller puts the model in eval mode).

        The bare model, not the DDP wrapper: DDP's forward may broadcast buffers, a collective
        that hangs when ranks hold different numbers of evaluation batches.
        """
        return self._forward(video, self.model)

    @torch.no_grad()
    def broadcast_buffers(self) -> None:
        """Give every process rank 0's buffers (BN statistics), as DDP does before a forward.

        Precise BN runs on each rank's own batches, so without this the ranks would evaluate
        slightly different models; rank 0's is the one its checkpoints keep.
        """
        if _world() > 1:
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, src=0)


def _world() -> int:
    """Processes of the initialised process group; 1 without one."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def same_grid_on_every_rank(step: Step, world_size: int) -> list[list[int]]:
    """Every rank's ``[grid, T, S, clips]`` of this iteration, checked equal (a collective).

    Multigrid relies on every rank taking the same grid at the same iteration (gradients of
    different shapes and batch sizes would be averaged as if alike); the sampler guarantees it
    and this checks it at every logged iteration, at the cost of one tiny all-gather.

    Raises:
        RuntimeError: when the ranks disagree (on every rank alike, so none hangs).
    """
    mine = [step.grid, *step.shape, step.batch_size]
    if world_size == 1:
        return [mine]
    everyone: list[Any] = [None] * world_size
    torch.distributed.all_gather_object(everyone, mine)
    if any(grid != mine for grid in everyone):
        raise RuntimeError(f"ranks train on different grids [grid, T, S, clips]: {everyone}")
    return everyone


def device_arithmetic(cfg: RunConfig, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None for fp32, channels-last 3D?) on ``device``; a CPU gets fp32."""
    if device.type != "cuda":
        return None, False
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
    return amp, cfg.train.memory_format == "channels_last_3d"


def build_network(
    cfg: RunConfig, data_classes: int, multi_label: bool, device: torch.device
) -> Network:
    """The configured backbone on ``device``; classes come from the data unless set."""
    backbone = BackboneSpec.from_config(cfg.model, data_classes)
    model = build_model(backbone)
    amp, channels_last = device_arithmetic(cfg, device)
    if device.type == "cuda":  # the shapes are few (a schedule's grids), each benchmarked once
        torch.backends.cudnn.benchmark = cfg.train.cudnn_benchmark and not cfg.train.deterministic
    net = Network(
        model,
        backbone,
        device,
        slowfast_alpha(backbone),
        multi_label=multi_label,
        amp=amp,
        channels_last=channels_last,
        scaler=torch.amp.GradScaler(device.type) if amp is torch.float16 else None,
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
