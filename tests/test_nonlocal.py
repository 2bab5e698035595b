"""Non-local I3D (Wang et al. 2018) under multigrid: placement, identity init, every grid, FLOPs."""

from __future__ import annotations

import math

import pytest
import torch
from shared import K400_MG, TEST_MULTIGRID, TINY
from torch import nn

from replication.config import load_config
from replication.model import (
    BackboneSpec,
    SubBatchNorm3d,
    gflops_per_clip,
    model_input_example,
    set_bn_mode,
)
from replication.model.builders import build_model
from replication.schedule import BNMode, build_schedule

# The tiny I3D-NL R18 and R50 the tests build (width 8: res3 has 16/64 channels, res4 32/128).
NL18 = TINY["i3d_nl"]
NL50 = BackboneSpec(arch="i3d_nl", depth=50, width=8, num_classes=5)

# Schedules whose every shape and grid one model trains on: the paper plan's K400 I3D-NL
# (8 x 224: long-cycle T 2..8, S 158..224, short-cycle crops 112 and 158) with a batch small
# enough for a CPU, and the tests' smoke schedule shrunk to 4 x 32 (T down to 1, crops down to
# 16 px: res4's feature map is 1 x 1 there, and the non-local pool must not shrink it to nothing).
TINY_MODEL = ("model.arch=i3d_nl", "model.depth=18", "model.width=8", "model.dropout=0.0")
SCHEDULES = {
    "k400": (
        K400_MG,
        (*TINY_MODEL, "data.num_frames=8", "data.sampling_rate=8", "train.batch_size=8",
         "multigrid.bn_base_size=1"),
    ),
    "smoke": (
        TEST_MULTIGRID,
        (*TINY_MODEL, "data.num_frames=4", "data.train_crop_size=32", "data.test_crop_size=32",
         "data.train_jitter_scales=[32,36]", "train.batch_size=2", "multigrid.bn_base_size=2"),
    ),
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread_seeded")


def _is_nonlocal(module: nn.Module) -> bool:
    # pytorchvideo's class; tests do not import pytorchvideo (builders is its only gate).
    return type(module).__name__ == "NonLocal"


def _nonlocal_layout(model: nn.Module) -> list[tuple[int, ...]]:
    """Per residual stage, the indices of the residual blocks a non-local block follows."""
    layout = []
    for stage in (m for m in model.modules() if hasattr(m, "res_blocks")):
        after, residual = [], -1
        for layer in stage.res_blocks:
            if _is_nonlocal(layer):
                after.append(residual)
            else:
                residual += 1
        layout.append(tuple(after))
    return layout


def _grids(schedule) -> list[tuple[int, int, int, BNMode]]:
    """Every (T, S, clips per process, BN mode) one epoch or one short-cycle grid trains on."""
    seen = {}
    for epoch in schedule.epochs:
        grids = epoch.short_cycle or ()
        pairs = [(g.crop_size, g.batch_size) for g in grids] or [
            (epoch.crop_size, epoch.per_gpu_batch_size)
        ]
        for crop, batch in pairs:
            seen.setdefault((epoch.num_frames, crop, batch, epoch.bn), None)
    return list(seen)


def test_nonlocal_blocks_sit_where_the_reference_puts_them():
    # PySlowFast's I3D_NLN_8x8_R50/R101: NONLOCAL.LOCATION [[[]], [[1, 3]], [[1, 3, 5]], [[]]].
    assert _nonlocal_layout(build_model(NL50)) == [(), (1, 3), (1, 3, 5), ()]
    r101 = BackboneSpec(arch="i3d_nl", depth=101, width=8, num_classes=5)
    assert _nonlocal_layout(build_model(r101)) == [(), (1, 3), (1, 3, 5), ()]
    # R18 has two blocks per stage: one non-local block each in res3 and res4.
    assert _nonlocal_layout(build_model(NL18)) == [(), (1,), (1,), ()]
    assert _nonlocal_layout(build_model(TINY["i3d"])) == [(), (), (), ()]


def test_nonlocal_block_shapes_follow_the_reference():
    blocks = [m for m in build_model(NL50).modules() if _is_nonlocal(m)]
    dims = [b.conv_theta.in_channels for b in blocks]
    assert dims == [64, 64, 128, 128, 128]  # res3 and res4 outputs at width 8 (x4 bottleneck)
    for block, dim in zip(blocks, dims, strict=True):
        assert block.instantiation == "softmax"
        for conv in (block.conv_theta, block.conv_phi, block.conv_g):
            assert (conv.in_channels, conv.out_channels) == (dim, dim // 2)
        assert (block.conv_out.in_channels, block.conv_out.out_channels) == (dim // 2, dim)
        assert block.pool.kernel_size == block.pool.stride == (1, 2, 2)


def test_i3d_nl_is_i3d_plus_the_nonlocal_blocks():
    # The same trunk in the same order: without the non-local blocks' parameters, I3D's.
    nl = build_model(NL50)
    plain = build_model(BackboneSpec(**{**NL50.__dict__, "arch": "i3d"}))
    extra = {id(p) for m in nl.modules() if _is_nonlocal(m) for p in m.parameters()}
    trunk = [p.shape for p in nl.parameters() if id(p) not in extra]
    assert extra and trunk == [p.shape for p in plain.parameters()]


@pytest.mark.parametrize("training", [False, True])
def test_untrained_nonlocal_block_is_the_identity(training):
    # The BN after the output conv starts at weight 0 (PySlowFast zero-inits it), so a fresh
    # block adds nothing and the network starts as the plain I3D it extends.
    model = build_model(NL18).train(training)
    blocks = [m for m in model.modules() if _is_nonlocal(m)]
    assert blocks
    for block in blocks:
        assert torch.count_nonzero(block.norm.weight) == 0
        assert block.conv_theta.weight.abs().sum() > 0  # only the residual branch's end is zero
        x = torch.randn(2, block.conv_theta.in_channels, 2, 5, 5)
        torch.testing.assert_close(block(x), x)


def test_zero_init_holds_for_a_sub_batch_norm_factory():
    # pytorchvideo's weight init knows only nn BatchNorms; the block zeroes its own.
    model = build_model(BackboneSpec(**{**NL18.__dict__, "norm": _sub_bn_factory(2)}))
    norms = [m.norm for m in model.modules() if _is_nonlocal(m)]
    assert norms and all(isinstance(n, SubBatchNorm3d) for n in norms)
    assert all(torch.count_nonzero(n.weight) == 0 for n in norms)


def _sub_bn_factory(splits: int):
    def make(num_features: int, eps: float, momentum: float) -> SubBatchNorm3d:
        return SubBatchNorm3d(num_features, splits, eps, momentum)

    return make


@pytest.mark.parametrize(("num_frames", "crop"), [(1, 16), (2, 16), (2, 28), (3, 40), (8, 56)])
def test_small_and_odd_feature_maps_run(num_frames, crop):
    # 16 px: res3 2 x 2, res4 1 x 1 (a floor-mode (1, 2, 2) pool would give 0 x 0 and fail);
    # 40 px: res4 3 x 3, pooled with ceil_mode to 2 x 2. T = 1 after I3D's temporal pool.
    model = build_model(NL18).eval()
    with torch.no_grad():
        logits = model(model_input_example(NL18, 2, num_frames, crop))
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_one_model_trains_on_every_shape_and_grid_of_a_schedule(name):
    path, overrides = SCHEDULES[name]
    cfg = load_config(path, overrides)
    grids = _grids(build_schedule(cfg))
    shapes = {(t, s) for t, s, _, _ in grids}
    assert len(shapes) >= 6 and {b.kind for *_, b in grids} >= {"sub"}
    spec = BackboneSpec.from_config(cfg.model, 5)
    model = build_model(spec).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for num_frames, crop, batch, bn in grids:
        set_bn_mode(model, bn, world_size=1)
        norms = [m.norm for m in model.modules() if _is_nonlocal(m)]
        if bn.kind == "sub" and bn.splits > 1:  # the non-local BN is switched with the rest
            assert all(isinstance(n, SubBatchNorm3d) and n.num_splits == bn.splits for n in norms)
        inputs = model_input_example(spec, batch, num_frames, crop)
        labels = torch.arange(batch) % 5
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        assert math.isfinite(loss.item()), (num_frames, crop, batch, bn)
    # The non-local branches have left the identity: their output BN weights have moved.
    assert all(torch.count_nonzero(n.weight) > 0 for n in norms)


def _nonlocal_gflops(dim: int, positions: int, pooled: int) -> float:
    """One block's multiply-adds: four 1x1x1 convs, two affinity matmuls (no bias, no BN)."""
    inner = dim // 2
    convs = 2 * positions * dim * inner + 2 * pooled * dim * inner
    return (convs + 2 * positions * pooled * inner) / 1e9


def test_flops_count_the_nonlocal_matmuls():
    # fvcore's einsum handle counts both affinity products; at 8 x 64 I3D's pool1 leaves T = 4,
    # res3 is 8 x 8 (16 channels at R18 width 8) and res4 4 x 4 (32 channels).
    plain = BackboneSpec(**{**NL18.__dict__, "arch": "i3d"})
    example = model_input_example(NL18, 1, 8, 64)
    nl_gflops = gflops_per_clip(build_model(NL18), example)
    plain_gflops = gflops_per_clip(build_model(plain), example)
    expected = _nonlocal_gflops(16, 4 * 8 * 8, 4 * 4 * 4) + _nonlocal_gflops(
        32, 4 * 4 * 4, 4 * 2 * 2
    )
    # fvcore counts an eval-mode affine BN as 2 per value (scale and shift).
    batch_norms = 2 * (4 * 8 * 8 * 16 + 4 * 4 * 4 * 32) / 1e9
    assert nl_gflops > plain_gflops
    assert nl_gflops - plain_gflops == pytest.approx(expected + batch_norms, rel=1e-6)


def test_channels_last_input_runs():
    # CUDA runs may lay clips and weights out channels-last; the block's views must accept it.
    model = build_model(NL18).eval().to(memory_format=torch.channels_last_3d)
    clip = model_input_example(NL18, 2, 4, 32).to(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        expected = build_model(NL18).eval()
        expected.load_state_dict(model.state_dict())
        torch.testing.assert_close(model(clip), expected(clip.contiguous()))
