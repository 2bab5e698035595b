"""Video backbones of the multigrid experiments (Wu et al. 2020, sections 4-5).

Slow, I3D, non-local I3D, SlowFast, X3D, R(2+1)D and CSN, all built from pytorchvideo's
building blocks.

This is the only module that imports pytorchvideo. Multigrid trains one network on clips of
many (T, S) shapes, so every head here pools *adaptively* to (1, 1, 1): a model built once runs
on any grid without rebuilding (pytorchvideo's default heads pool with a fixed kernel and fail
on small inputs).

Input convention and the spec of what to build: :mod:`replication.model.spec`; which depths each
family builds is a config fact (:data:`replication.config.sections.BACKBONE_DEPTHS`), and the
tables here cover exactly those depths (a test checks it).

Normalization: every BatchNorm3d of every architecture is made by ``BackboneSpec.norm``, called
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
from functools import partial

from torch import nn

from replication.model.blocks import StemConv3d, _create_basic_block
from replication.model.spec import BackboneSpec, ModuleFactory

with warnings.catch_warnings():
    # pytorchvideo imports fvcore.nn, which runs torch.jit.script at import time (deprecated in
    # current torch); the warning is about fvcore's focal loss, which nothing here uses.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    warnings.filterwarnings(
        "ignore", message=r".*torch\.jit\.script.*", category=DeprecationWarning
    )
    from pytorchvideo.layers.nonlocal_net import NonLocal
    from pytorchvideo.models.csn import create_csn
    from pytorchvideo.models.head import create_res_basic_head
    from pytorchvideo.models.net import MultiPathWayWithFuse, Net
    from pytorchvideo.models.r2plus1d import create_r2plus1d
    from pytorchvideo.models.resnet import create_bottleneck_block, create_res_stage
    from pytorchvideo.models.slowfast import create_slowfast
    from pytorchvideo.models.stem import create_res_basic_stem
    from pytorchvideo.models.x3d import create_x3d

__all__ = ["build_model"]


# Blocks per stage. Depth 18 uses basic (two-conv) blocks as in ResNet-18; pytorchvideo's
# create_resnet knows only bottleneck depths, so the Slow/I3D trunk is assembled here.
_RESNET_STAGE_DEPTHS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
# X3D depth as its number of residual blocks: depth factor 1.0 -> 1+2+5+3 = 11 blocks,
# 2.2 (X3D-XS/S/M) -> 3+5+11+7 = 26, 5.0 (X3D-L) -> 5+10+25+15 = 55.
_X3D_DEPTH_FACTOR = {11: 1.0, 26: 2.2, 55: 5.0}

# Temporal kernel of conv_a per stage, one entry per block (repeated over the stage), following
# PySlowFast's _TEMPORAL_KERNEL_BASIS: Slow inflates res4-5 only; I3D inflates alternately.
_SLOW_TEMPORAL_KERNELS = ((1,), (1,), (3,), (3,))
_I3D_TEMPORAL_KERNELS = ((3,), (3, 1), (3, 1), (1, 3))
# Non-local I3D (Wang et al. 2018; PySlowFast's I3D_NLN_8x8_R50/R101 NONLOCAL.LOCATION): a
# non-local block after every other residual block of res3 and res4, i.e. after the 0-based
# blocks 1, 3 of res3 and 1, 3, 5 of res4 (5 blocks at depth 50 and 101). Depth 18 has two blocks
# per stage and gets one after block 1 of res3 and of res4.
_NO_NONLOCAL: tuple[tuple[int, ...], ...] = ((), (), (), ())
_I3D_NONLOCAL_BLOCKS = ((), (1, 3), (1, 3, 5), ())


def build_model(cfg: BackboneSpec) -> nn.Module:
    """Build the backbone with an adaptive head, initialized (no pretrained weights).

    Args:
        cfg: architecture, size and norm factory.

    Returns:
        A module mapping :func:`model_input_example`-shaped inputs to ``(B, num_classes)``.
    """
    return _BUILDERS[cfg.arch](cfg)


# --------------------------------------------------------------------------- Slow and I3D


def _build_resnet(
    cfg: BackboneSpec,
    stem_temporal_kernel: int,
    temporal_kernels: Sequence[Sequence[int]],
    temporal_pool: bool,
    nonlocal_blocks: Sequence[Sequence[int]] = _NO_NONLOCAL,
) -> nn.Module:
    """Stem, four residual stages and an adaptive head (the Slow and I3D trunks).

    With the Slow settings and a bottleneck depth this is exactly pytorchvideo's
    ``create_resnet(stem_conv_kernel_size=(1, 7, 7))``, i.e. hub ``slow_r50`` with an adaptive
    head; it is assembled here because create_resnet cannot take stage depths.
    ``nonlocal_blocks[i]`` names the blocks of stage i a non-local block follows (those the
    stage has).
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
        stage = create_res_stage(
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
        dim_in = dim_inner * expansion
        _insert_nonlocal(stage, nonlocal_blocks[idx], dim_in, cfg.norm)
        blocks.append(stage)
        if idx == 0 and temporal_pool:
            # I3D halves T after res2 (PySlowFast's pool1). ceil_mode keeps T = 1 (and odd T)
            # runnable; for even T it equals the floor-mode pool.
            blocks.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1), ceil_mode=True))
    blocks.append(_adaptive_res_head(cfg, dim_in))
    return Net(blocks=nn.ModuleList(blocks))


def _adaptive_res_head(cfg: BackboneSpec, in_features: int) -> nn.Module:
    return create_res_basic_head(
        in_features=in_features,
        out_features=cfg.num_classes,
        pool=nn.AdaptiveAvgPool3d,
        output_size=(1, 1, 1),
        dropout_rate=cfg.dropout,
        activation=cfg.head_activation,
        output_with_global_average=True,
    )


def _build_slow(cfg: BackboneSpec) -> nn.Module:
    return _build_resnet(cfg, 1, _SLOW_TEMPORAL_KERNELS, temporal_pool=False)


def _build_i3d(cfg: BackboneSpec) -> nn.Module:
    return _build_resnet(cfg, 5, _I3D_TEMPORAL_KERNELS, temporal_pool=True)


def _build_i3d_nl(cfg: BackboneSpec) -> nn.Module:
    return _build_resnet(cfg, 5, _I3D_TEMPORAL_KERNELS, True, _I3D_NONLOCAL_BLOCKS)


# --------------------------------------------------------------------------- non-local blocks


def _insert_nonlocal(stage: nn.Module, after: Sequence[int], dim: int, norm: ModuleFactory) -> None:
    """Put a non-local block behind each residual block of ``stage`` listed in ``after``.

    pytorchvideo's ResStage runs ``res_blocks`` in order, whatever they are; a block index the
    stage does not have is skipped.
    """
    if not after:
        return
    layers: list[nn.Module] = []
    for idx, block in enumerate(stage.res_blocks):
        layers.append(block)
        if idx in after:
            layers.append(_nonlocal_block(dim, norm))
    stage.res_blocks = nn.ModuleList(layers)


def _nonlocal_block(dim: int, norm: ModuleFactory) -> nn.Module:
    """A softmax (embedded Gaussian) non-local block on ``dim`` channels, identity at init.

    As PySlowFast's: ``dim / 2`` inner channels, phi and g max-pooled (1, 2, 2), and the BN after
    the output convolution zero-initialised, so an untrained block adds 0 to its input. Unlike
    PySlowFast's floor-mode pool, this one uses ceil_mode: the same on even sizes (every map at
    the base 224 crop: 28 x 28 in res3, 14 x 14 in res4), the last row and column pooled alone on
    odd ones (res4 is 7 x 7 on the 112 px short-cycle grid) instead of dropped, and a 1 x 1 map
    (crops under 32 px) kept instead of pooled to nothing. pytorchvideo's ``create_nonlocal``
    makes the floor-mode pool, so the block is assembled here from its ``NonLocal``.
    """
    inner = dim // 2
    out_norm = norm(num_features=dim, eps=1e-5, momentum=0.1)
    out_norm.block_final_bn = True  # pytorchvideo's weight init keeps it at zero
    nn.init.zeros_(out_norm.weight)  # a norm that init does not know (sub-batch BN) too
    return NonLocal(
        conv_theta=nn.Conv3d(dim, inner, kernel_size=1),
        conv_phi=nn.Conv3d(dim, inner, kernel_size=1),
        conv_g=nn.Conv3d(dim, inner, kernel_size=1),
        conv_out=nn.Conv3d(inner, dim, kernel_size=1),
        pool=nn.MaxPool3d((1, 2, 2), (1, 2, 2), ceil_mode=True),
        norm=out_norm,
        instantiation="softmax",
    )


# --------------------------------------------------------------------------- other families


def _build_slowfast(cfg: BackboneSpec) -> nn.Module:
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


def _build_x3d(cfg: BackboneSpec) -> nn.Module:
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


def _factorized(create: Callable[..., nn.Module]) -> Callable[[BackboneSpec], nn.Module]:
    """R(2+1)D and CSN share one builder signature; only the pytorchvideo factory differs."""

    def build(cfg: BackboneSpec) -> nn.Module:
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


_BUILDERS: dict[str, Callable[[BackboneSpec], nn.Module]] = {
    "slow": _build_slow,
    "i3d": _build_i3d,
    "i3d_nl": _build_i3d_nl,
    "slowfast": _build_slowfast,
    "x3d": _build_x3d,
    "r2plus1d": _build_r2plus1d,
    "csn": _build_csn,
}
