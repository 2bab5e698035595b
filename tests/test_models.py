from __future__ import annotations

import pytest
import torch
from shared import TINY
from torch import nn

from replication.config import ConfigError
from replication.model import (
    BackboneSpec,
    StemConv3d,
    model_input_example,
    pack_pathways,
    slowfast_alpha,
)
from replication.model.builders import build_model

ARCHS = list(TINY)


pytestmark = pytest.mark.usefixtures("one_thread_seeded")


def _replace(cfg: BackboneSpec, **changes) -> BackboneSpec:
    return BackboneSpec(**{**cfg.__dict__, **changes})


def _num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_one_model_runs_every_grid_shape(arch):
    # Multigrid feeds one model coarse and fine grids; the adaptive head must absorb them all.
    cfg = TINY[arch]
    model = build_model(cfg).eval()
    with torch.no_grad():
        for num_frames, crop in [(2, 28), (1, 16), (4, 40), (8, 56), (16, 32)]:
            logits = model(model_input_example(cfg, 2, num_frames, crop))
            assert logits.shape == (2, 5), (num_frames, crop)
            assert torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_few_sgd_steps_fit_one_batch(arch):
    cfg = _replace(TINY[arch], dropout=0.0)  # dropout noise would blur a 5-step comparison
    model = build_model(cfg).train()
    inputs = model_input_example(cfg, 4, 2, 28)
    labels = torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Starts near ln(5) = 1.61 (the classifier is initialized small); 5 steps must halve it.
    assert losses[0] == pytest.approx(1.61, abs=0.25)
    assert losses[5] < 0.5 * losses[0], losses


class _TaggedNorm(nn.BatchNorm3d):
    """BatchNorm3d with a distinct type, to find out which norms the factory built."""


@pytest.mark.parametrize("arch", ARCHS)
def test_every_batchnorm_comes_from_the_norm_factory(arch):
    model = build_model(_replace(TINY[arch], norm=_TaggedNorm))
    tagged = sum(type(m) is _TaggedNorm for m in model.modules())
    other = [
        type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
    ]
    assert tagged > 10
    assert len(other) == tagged, other


@pytest.mark.parametrize("arch", ARCHS)
def test_width_scales_the_whole_network(arch):
    # Convolutions hold ~all parameters and grow with width^2; X3D rounds channels to
    # multiples of 8, so its growth from width 8 to 16 is smaller but still well above 2x.
    narrow = _num_params(build_model(TINY[arch]))
    wide = _num_params(build_model(_replace(TINY[arch], width=16)))
    assert wide > 2.5 * narrow


def test_depth_18_is_a_basic_block_resnet_and_smaller_than_50():
    small = build_model(TINY["slow"])
    assert any(type(m).__name__ == "BasicBlock" for m in small.modules())
    big = build_model(_replace(TINY["slow"], depth=50))
    deeper = build_model(_replace(TINY["slow"], depth=101))
    assert _num_params(small) < _num_params(big) < _num_params(deeper)


def test_slow_r50_has_the_published_parameter_count():
    # pytorchvideo's model zoo lists slow_r50 (Kinetics-400 head) at 32.45 M parameters.
    model = build_model(BackboneSpec(arch="slow", depth=50, num_classes=400))
    assert _num_params(model) == 32_454_096


def test_slowfast_input_packing_and_the_caller_list_survives():
    cfg = TINY["slowfast"]
    assert slowfast_alpha(cfg) == 4
    assert slowfast_alpha(TINY["slow"]) is None
    slow, fast = model_input_example(cfg, 2, 8, 32)
    assert slow.shape == (2, 3, 2, 32, 32)
    assert fast.shape == (2, 3, 8, 32, 32)
    clip = torch.randn(1, 3, 2, 28, 28)
    assert [x.shape[2] for x in pack_pathways(clip, 4)] == [1, 2]
    assert pack_pathways(clip, None) is clip
    # pytorchvideo's first fusion block would overwrite the caller's list in place.
    model = build_model(cfg).eval()
    inputs = [slow, fast]
    with torch.no_grad():
        first = model(inputs)
        assert inputs[0] is slow and inputs[1] is fast
        torch.testing.assert_close(model(inputs), first)


@pytest.mark.parametrize("frames", [1, 2, 3, 8])  # 1-2: padded first (padding 2); 3, 8: not
def test_stem_conv_is_the_same_convolution_whatever_the_clip_length(frames, monkeypatch):
    import replication.model.blocks as models

    pads, pad = [], models.F.pad
    monkeypatch.setattr(models.F, "pad", lambda x, p: pads.append(p) or pad(x, p))
    reference = nn.Conv3d(3, 2, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
    stem = StemConv3d(3, 2, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
    stem.load_state_dict(reference.state_dict())
    x = torch.randn(4, 3, frames, 20, 20)
    out, expected = stem(x), reference(x)
    assert out.shape == expected.shape == (4, 2, frames, 10, 10)
    torch.testing.assert_close(out, expected)
    out.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(stem.weight.grad, reference.weight.grad, rtol=1e-4, atol=1e-4)
    assert pads == ([(0, 0, 0, 0, 2, 2)] if frames <= 2 else [])


@pytest.mark.parametrize("arch", ["slow", "i3d", "slowfast"])
def test_resnet_stems_read_the_clip_through_the_stem_conv(arch):
    convs = [m for m in build_model(TINY[arch]).modules() if isinstance(m, StemConv3d)]
    assert [c.in_channels for c in convs] == [3] * (2 if arch == "slowfast" else 1)


def test_head_activation_is_applied():
    cfg = _replace(TINY["slow"], head_activation=nn.Softmax)
    model = build_model(cfg).eval()
    with torch.no_grad():
        probs = model(model_input_example(cfg, 2, 2, 28))
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"arch": "csn", "depth": 18}, "model.depth"),
        ({"arch": "slow", "depth": 34}, "model.depth"),
        ({"arch": "x3d", "depth": 50}, "model.depth"),
        ({"arch": "slowfast", "width": 12}, "model.slowfast_beta_inv"),
        ({"arch": "mvit"}, "model.arch"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"num_classes": 0}, "model.num_classes"),
        ({"slowfast_alpha": 0}, "model.slowfast_alpha"),
    ],
)
def test_impossible_configs_are_rejected_at_creation(changes, key):
    with pytest.raises(ConfigError) as err:
        BackboneSpec(**changes)
    assert err.value.key == key
