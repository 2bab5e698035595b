from __future__ import annotations

import pytest
import torch
from shared import TINY
from torch import nn

from replication.model import (
    BackboneSpec,
    flops_table,
    gflops_per_clip,
    model_input_example,
)
from replication.model.builders import build_model


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("arch", list(TINY))
def test_flops_grow_with_t_and_s_squared(arch):
    # fvcore counts each conv/BN/linear per *output* element, so when T is a multiple of every
    # temporal stride (8 covers CSN's 2*2*2) and S of the spatial stride 32, every feature map
    # grows exactly 2x with T and 4x with S. Only the classifier and X3D's head projection are
    # shape-independent; at width 8 they are ~2% of the total, hence the 5% tolerance. Non-local
    # I3D's affinity matmuls grow with positions squared, but are ~0.3% of it at these sizes.
    cfg = TINY[arch]
    rows = flops_table(build_model(cfg), cfg, [(8, 32), (16, 32), (8, 64)])
    base, longer, wider = (row["gflops"] for row in rows)
    assert base > 0
    assert longer / base == pytest.approx(2.0, rel=0.05)
    assert wider / base == pytest.approx(4.0, rel=0.05)
    assert [(r["num_frames"], r["crop_size"]) for r in rows] == [(8, 32), (16, 32), (8, 64)]


class _PairedNorm(nn.BatchNorm3d):
    """Stands in for sub-batch BN, which splits a batch into groups and fails on one clip."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] % 2:
            raise RuntimeError("needs an even batch in training mode")
        return super().forward(x)


def test_flops_of_a_training_model_with_sub_batch_norm():
    # PySlowFast issue #224: counting FLOPs on one clip crashed with sub-batch BN in train mode.
    cfg = BackboneSpec(arch="slowfast", depth=18, width=8, num_classes=5, norm=_PairedNorm)
    model = build_model(cfg).train()
    model.blocks[0].multipathway_blocks[0].norm.eval()  # a module frozen on purpose stays so
    example = model_input_example(cfg, 4, 4, 32)
    batch_of_four = gflops_per_clip(model, example)
    assert batch_of_four == gflops_per_clip(model, model_input_example(cfg, 1, 4, 32))
    assert model.training
    assert not model.blocks[0].multipathway_blocks[0].norm.training
    assert sum(m.training for m in model.modules()) == len(list(model.modules())) - 1
    assert [x.shape[0] for x in example] == [4, 4]  # the caller's input is left alone


def test_slow_r50_matches_the_published_gflops():
    # pytorchvideo's model zoo: slow_r50, 8 frames at 256 x 256, 54.52 GFLOPs per view (our
    # count is 0.4% higher). Slow keeps T through every layer, so 2 frames cost exactly a
    # quarter (up to the 0.8 MFLOP classifier), at a quarter of the test time.
    cfg = BackboneSpec(arch="slow", depth=50, num_classes=400)
    gflops = gflops_per_clip(build_model(cfg), model_input_example(cfg, 1, 2, 256))
    assert 4 * gflops == pytest.approx(54.52, rel=0.01)
