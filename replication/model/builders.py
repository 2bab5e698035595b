"""Video backbones of the multigrid experiments (Wu et al. 2020, sections 4-5).

Slow, I3D, SlowFast, X3D, R(2+1)D and CSN, all built from pytorchvideo's building blocks.

This is the only module that imports pytorchvideo. Multigrid trains one network on clips of
many (T, S) shapes, so every head here pools *adaptively* to (1, 1, 1): a model built once runs
on any grid without rebuilding (pytorchvideo's default heads pool with a fixed kernel and fail
on small inputs).

Input convention: a ``(B, 3, T, S, S)`` tensor; for SlowFast a list ``[slow, fast]`` with
``slow = clip[:, :, ::alpha]`` and ``fast = clip`` (see :func:`pack_pathways`).

Normalization: every BatchNorm3d of every architecture is made by ``ModelConfig.norm``, called
as ``norm(num_features=..., eps=..., momentum=...)``; nothing is swapped after building, so a
sub-batch BN factory (``functools.partial(SubBatchNorm3d, num_splits=k)``) reaches all of them.

Smallest inputs: every architecture runs on every T >= 1 and S >= 16 tried (T in 1..16,
S in 16..112); the last feature map is then 1 x 1 spatially (total spatial stride 32). SlowFast
with T < alpha gives the slow pathway a single frame. Training mode also needs more than one
value per BatchNorm channel: a single clip fails whenever the last feature map is 1 x 1 x 1
(S <= 32 with few frames); a batch of 2 or more runs at every size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from replication.config.errors import ConfigError

with warnings.catch_warnings():
    # pytorchvideo imports fvcore.nn, which runs torch.jit.script at import time (deprecated in
    # current torch); the warning is about fvcore's focal loss, which nothing here uses.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    warnings.filterwarnings(
        "ignore", message=r".*torch\.jit\.script.*", category=DeprecationWarning
    )
    from pytorchvideo.models.csn import create_csn
    from pytorchvideo.models.head import create_res_basic_head
    from pytorchvideo.models.net import MultiPathWayWithFuse, Net
    from pytorchvideo.models.r2plus1d import create_r2plus1d
    from pytorchvideo.models.resnet import create_bottleneck_block, create_res_stage
    from pytorchvideo.models.slowfast import create_slowfast
    from pytorchvideo.models.stem import create_res_basic_stem
    from pytorchvideo.models.x3d import create_x3d

__all__ = [
    "ModelConfig",
    "build_model",
    "model_input_example",
    "pack_pathways",
    "slowfast_alpha",
]

Arch = Literal["slow", "i3d", "slowfast", "x3d", "r2plus1d", "csn"]
ModuleFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelConfig:
    """Which backbone to build; mirrors the ``model`` section of the run config.

    Raises:
        ConfigError: on a combination :func:`build_model` cannot build (checked at creation).
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
        if self.arch not in _BUILDERS:
            raise ConfigError("model.arch", f"unknown architecture {self.arch!r}")
        depths = _X3D_DEPTH_FACTOR if self.arch == "x3d" else _ARCH_DEPTHS[self.arch]
        if self.depth not in depths:
            raise ConfigError(
                "model.depth", f"{self.arch} supports {sorted(depths)}, got {self.depth}"
            )
        for key in ("width", "num_classes", "slowfast_alpha", "slowfast_beta_inv"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}", f"must be positive, got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError("model.dropout", f"must be in [0, 1), got {self.dropout}")
        if self.arch == "slowfast" and self.width % self.slowfast_beta_inv:
            raise ConfigError(
                "model.slowfast_beta_inv",
                f"{self.slowfast_beta_inv} must divide width={self.width} (fast pathway channels)",
            )


# Blocks per stage. Depth 18 uses basic (two-conv) blocks as in ResNet-18; pytorchvideo's
# create_resnet knows only bottleneck depths, so the Slow/I3D trunk is assembled here.
_RESNET_STAGE_DEPTHS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
_ARCH_DEPTHS = {
    "slow": {18, 50, 101},
    "i3d": {18, 50, 101},
    "slowfast": {18, 50, 101},  # pytorchvideo's SlowFast-18 has one bottleneck per stage
    "r2plus1d": {50, 101},
    "csn": {50, 101},
}
# X3D depth as its number of residual blocks: depth factor 1.0 -> 1+2+5+3 = 11 blocks,
# 2.2 (X3D-XS/S/M) -> 3+5+11+7 = 26, 5.0 (X3D-L) -> 5+10+25+15 = 55.
_X3D_DEPTH_FACTOR = {11: 1.0, 26: 2.2, 55: 5.0}

# Temporal kernel of conv_a per stage, one entry per block (repeated over the stage), following
# PySlowFast's _TEMPORAL_KERNEL_BASIS: Slow inflates res4-5 only; I3D inflates alternately.
_SLOW_TEMPORAL_KERNELS = ((1,), (1,), (3,), (3,))
_I3D_TEMPORAL_KERNELS = ((3,), (3, 1), (3, 1), (1, 3))


def build_model(cfg: ModelConfig) -> nn.Module:
    """Build the backbone with an adaptive head, initialized (no pretrained weights).

    Args:
        cfg: architecture, size and norm factory.

    Returns:
        A module mapping :func:`model_input_example`-shaped inputs to ``(B, num_classes)``.
    """
    return _BUILDERS[cfg.arch](cfg)


def slowfast_alpha(cfg: ModelConfig) -> int | None:
    """Frame-rate ratio of the two pathways, or None for single-pathway models."""
    return cfg.slowfast_alpha if cfg.arch == "slowfast" else None


def pack_pathways(clip: torch.Tensor, alpha: int | None) -> torch.Tensor | list[torch.Tensor]:
    """Turn a ``(B, 3, T, S, S)`` clip into the model's input (``[slow, fast]`` for SlowFast)."""
    return clip if alpha is None else [clip[:, :, ::alpha], clip]


def model_input_example(
    cfg: ModelConfig, batch: int, num_frames: int, crop: int
) -> torch.Tensor | list[torch.Tensor]:
    """Random input of the right structure for ``build_model(cfg)``, e.g. to count FLOPs.

    Args:
        cfg: the model's config (decides tensor vs. ``[slow, fast]`` list).
        batch: clips B.
        num_frames: frames T (of the fast pathway for SlowFast).
        crop: side S in pixels.
    """
    clip = torch.randn(batch, 3, num_frames, crop, crop)
    return pack_pathways(clip, slowfast_alpha(cfg))


class StemConv3d(nn.Conv3d):
    """The stem's Conv3d; on a CPU it zero-pads time itself when the padding covers the clip.

    A coarse long-cycle grid gives the stem fewer frames than its temporal padding, e.g. the
    fast pathway's 5 x 7 x 7 kernel (padding 2) on T = 2. oneDNN's direct kernels then refuse
    the weight gradient and it falls back to an im2col GEMM: 83 ms for forward + backward of
    SlowFast's 1-channel fast stem at 256 x 3 x 2 x 28 x 28 on one Xeon core, against 34 ms with
    the frames padded beforehand (and 22-27 ms at T = 4 and 8, where padding first is slower,
    so it is done only when needed). The result is the same convolution: same weights, same
    output, same FLOP count. The stem reads the 3-channel clip, so the padded copy is small.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x``; see the class docstring for when time is padded first."""
        explicit = (
            x.device.type == "cpu"
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)  # "same" / "valid"
            and 0 < x.shape[2] <= self.padding[0]
        )
        if not explicit:
            return super().forward(x)
        pad_t, pad_h, pad_w = self.padding
        x = F.pad(x, (0, 0, 0, 0, pad_t, pad_t))
        return F.conv3d(
            x, self.weight, self.bias, self.stride, (0, pad_h, pad_w), self.dilation, self.groups
        )


# --------------------------------------------------------------------------- Slow and I3D


class BasicBlock(nn.Module):
    """Two-convolution residual branch of ResNet-18/34, inflated to 3D.

    ::

        Conv3d kt x 3 x 3 (stride) -> Norm -> Act -> Conv3d 1 x 3 x 3 -> Norm

    The temporal kernel goes into the first convolution, as in PySlowFast's basic_transform.
    Built by :func:`_create_basic_block`; the shortcut and final ReLU come from pytorchvideo's
    ResBlock around it.
    """

    def __init__(
        self,
        conv_a: nn.Module,
        norm_a: nn.Module,
        act_a: nn.Module,
        conv_b: nn.Module,
        norm_b: nn.Module,
    ) -> None:
        super().__init__()
        self.conv_a, self.norm_a, self.act_a = conv_a, norm_a, act_a
        self.conv_b, self.norm_b = conv_b, norm_b
        # pytorchvideo's initializer zeroes the last BN of each branch: blocks start as identity.
        self.norm_b.block_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the branch (the residual sum happens in the enclosing ResBlock)."""
        x = self.act_a(self.norm_a(self.conv_a(x)))
        return self.norm_b(self.conv_b(x))


def _create_basic_block(
    *,
    dim_in: int,
    dim_out: int,
    conv_a_kernel_size: Sequence[int],
    conv_a_stride: Sequence[int],
    conv_b_stride: Sequence[int],
    norm: ModuleFactory,
    activation: Callable[[], nn.Module],
    **_unused: object,  # the bottleneck-only arguments create_res_stage passes to every block
) -> BasicBlock:
    kt = conv_a_kernel_size[0]
    stride = (conv_a_stride[0], conv_b_stride[1], conv_b_stride[2])
    return BasicBlock(
        conv_a=nn.Conv3d(dim_in, dim_out, (kt, 3, 3), stride, (kt // 2, 1, 1), bias=False),
        norm_a=norm(num_features=dim_out, eps=1e-5, momentum=0.1),
        act_a=activation(),
        conv_b=nn.Conv3d(dim_out, dim_out, (1, 3, 3), 1, (0, 1, 1), bias=False),
        norm_b=norm(num_features=dim_out, eps=1e-5, momentum=0.1),
    )


def _build_resnet(
    cfg: ModelConfig,
    stem_temporal_kernel: int,
    temporal_kernels: Sequence[Sequence[int]],
    temporal_pool: bool,
) -> nn.Module:
    """Stem, four residual stages and an adaptive head (the Slow and I3D trunks).

    With the Slow settings and a bottleneck depth this is exactly pytorchvideo's
    ``create_resnet(stem_conv_kernel_size=(1, 7, 7))``, i.e. hub ``slow_r50`` with an adaptive
    head; it is assembled here because create_resnet cannot take stage depths.
    """
    basic = cfg.depth == 18
    expansion = 1 if basic else 4
    block = _create_basic_block if basic else create_bottleneck_block
    blocks: list[nn.Module] = [
        create_res_basic_stem(
            in_channels=3,
            out_channels=cfg.width,
            conv_kernel_size=(stem_temporal_kernel, 7, 7),
            conv_stride=(1, 2, 2),
            conv_padding=(stem_temporal_kernel // 2, 3, 3),
            pool=nn.MaxPool3d,
            pool_kernel_size=(1, 3, 3),
            pool_stride=(1, 2, 2),
            pool_padding=(0, 1, 1),
            norm=cfg.norm,
            activation=nn.ReLU,
            conv=StemConv3d,
        )
    ]
    dim_in = cfg.width
    for idx, num_blocks in enumerate(_RESNET_STAGE_DEPTHS[cfg.depth]):
        dim_inner = cfg.width * 2**idx
        kernels = [(kt, 1, 1) for kt in temporal_kernels[idx]]
        blocks.append(
            create_res_stage(
                depth=num_blocks,
                dim_in=dim_in,
                dim_inner=dim_inner,
                dim_out=dim_inner * expansion,
                bottleneck=block,
                conv_a_kernel_size=kernels,
                conv_a_stride=(1, 1, 1),
                conv_a_padding=[(kt // 2, 0, 0) for kt, _, _ in kernels],
                conv_b_kernel_size=(1, 3, 3),
                conv_b_stride=(1, 1, 1) if idx == 0 else (1, 2, 2),
                conv_b_padding=(0, 1, 1),
                norm=cfg.norm,
                activation=nn.ReLU,
            )
        )
        dim_in = dim_inner * expansion
        if idx == 0 and temporal_pool:
            # I3D halves T after res2 (PySlowFast's pool1). ceil_mode keeps T = 1 (and odd T)
            # runnable; for even T it equals the floor-mode pool.
            blocks.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1), ceil_mode=True))
    blocks.append(_adaptive_res_head(cfg, dim_in))
    return Net(blocks=nn.ModuleList(blocks))


def _adaptive_res_head(cfg: ModelConfig, in_features: int) -> nn.Module:
    return create_res_basic_head(
        in_features=in_features,
        out_features=cfg.num_classes,
        pool=nn.AdaptiveAvgPool3d,
        output_size=(1, 1, 1),
        dropout_rate=cfg.dropout,
        activation=cfg.head_activation,
        output_with_global_average=True,
    )


def _build_slow(cfg: ModelConfig) -> nn.Module:
    return _build_resnet(cfg, 1, _SLOW_TEMPORAL_KERNELS, temporal_pool=False)


def _build_i3d(cfg: ModelConfig) -> nn.Module:
    return _build_resnet(cfg, 5, _I3D_TEMPORAL_KERNELS, temporal_pool=True)


# --------------------------------------------------------------------------- other families


def _build_slowfast(cfg: ModelConfig) -> nn.Module:
    alpha = cfg.slowfast_alpha
    model = create_slowfast(
        slowfast_channel_reduction_ratio=(cfg.slowfast_beta_inv,),
        # Any odd kernel with padding k // 2 and stride alpha maps T fast frames onto
        # ceil(T / alpha), the slow pathway's length for input clip[:, :, ::alpha].
        slowfast_fusion_conv_kernel_size=(7, 1, 1),
        slowfast_fusion_conv_stride=(alpha, 1, 1),
        model_depth=cfg.depth,
        model_num_class=cfg.num_classes,
        dropout_rate=cfg.dropout,
        norm=cfg.norm,
        stem_dim_outs=(cfg.width, cfg.width // cfg.slowfast_beta_inv),
        stem_function=(partial(create_res_basic_stem, conv=StemConv3d),) * 2,
        head_pool=nn.AdaptiveAvgPool3d,
        head_output_size=((1, 1, 1), (1, 1, 1)),
        head_activation=cfg.head_activation,
    )
    for module in model.modules():
        if isinstance(module, MultiPathWayWithFuse):
            # By default the first block writes its outputs into the caller's [slow, fast] list.
            module.inplace = False
    return model


def _build_x3d(cfg: ModelConfig) -> nn.Module:
    scale = cfg.width / 64
    model = create_x3d(
        # Clip length and crop only size the head's fixed pool, which is replaced below.
        input_clip_length=4,
        input_crop_size=160,
        model_num_class=cfg.num_classes,
        dropout_rate=cfg.dropout,
        width_factor=2.0 * scale,  # X3D's own gamma_w; 2.0 is X3D-XS/S/M/L
        depth_factor=_X3D_DEPTH_FACTOR[cfg.depth],
        norm=cfg.norm,
        # The same x * sigmoid(x) as pytorchvideo's Swish, whose custom backward uses the
        # deprecated ctx.saved_variables (a DeprecationWarning on every training run).
        inner_act=nn.SiLU,
        head_dim_out=max(1, round(2048 * scale)),
        head_activation=cfg.head_activation,
    )
    model.blocks[-1].pool.pool = nn.AdaptiveAvgPool3d((1, 1, 1))
    return model


def _factorized(create: Callable[..., nn.Module]) -> Callable[[ModelConfig], nn.Module]:
    """R(2+1)D and CSN share one builder signature; only the pytorchvideo factory differs."""

    def build(cfg: ModelConfig) -> nn.Module:
        return create(
            model_depth=cfg.depth,
            model_num_class=cfg.num_classes,
            dropout_rate=cfg.dropout,
            norm=cfg.norm,
            stem_dim_out=cfg.width,
            head_pool=nn.AdaptiveAvgPool3d,
            head_output_size=(1, 1, 1),
            head_activation=cfg.head_activation,
        )

    return build


_build_r2plus1d = _factorized(create_r2plus1d)
_build_csn = _factorized(create_csn)


_BUILDERS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "slow": _build_slow,
    "i3d": _build_i3d,
    "slowfast": _build_slowfast,
    "x3d": _build_x3d,
    "r2plus1d": _build_r2plus1d,
    "csn": _build_csn,
}
