"""CUDA: the arithmetic options against the fp32 reference, sub-batch BN, a short training.

``gpu``-marked; every test skips with a reason where torch sees no CUDA device (this project's
CPU machines and CI). ``python -m replication.gpu check`` runs them on a GPU node (docs/gpu.md).
"""

from __future__ import annotations

import json

import pytest
import torch
from shared import TINY

from replication.config import validate_config
from replication.engine.loop import train
from replication.engine.network import build_network
from replication.io import events as ev
from replication.model import model_input_example
from replication.model.sub_batch_norm import SubBatchNorm3d

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch sees none"),
]
TINY_MODEL = {"arch": "slowfast", "depth": 18, "width": 8, "num_classes": 5, "dropout": 0.0}


def _one_step(precision: str, memory_format: str) -> tuple[float, list[torch.Tensor]]:
    """Loss and gradients of one step of a tiny SlowFast on fixed clips, on the GPU."""
    cfg = validate_config({"model": TINY_MODEL, "train": {"precision": precision,
                           "memory_format": memory_format, "deterministic": True}})  # fmt: skip
    torch.manual_seed(0)
    net = build_network(cfg, 5, False, torch.device("cuda", 0))
    torch.manual_seed(1)
    batch = {"video": model_input_example(TINY["slowfast"], 8, 8, 64),
             "label": torch.arange(8) % 5, "grid": torch.zeros(8, dtype=torch.long)}  # fmt: skip
    net.model.train()
    logits = net._forward(batch["video"])
    loss = net.loss(logits, batch["label"])
    loss.backward()
    grads = [p.grad.float().cpu() for p in net.model.parameters() if p.grad is not None]
    return loss.item(), grads


@pytest.mark.parametrize(
    ("precision", "memory_format", "tolerance"),
    [
        ("fp32", "channels_last_3d", 1e-3),
        ("bf16", "contiguous", 5e-2),
        ("bf16", "channels_last_3d", 5e-2),
        ("fp16", "contiguous", 2e-2),
    ],
)
def test_cuda_step_is_close_to_fp32(precision, memory_format, tolerance):
    ref_loss, ref_grads = _one_step("fp32", "contiguous")
    loss, grads = _one_step(precision, memory_format)
    assert loss == pytest.approx(ref_loss, rel=tolerance)
    flat_ref, flat = (
        torch.cat([g.flatten() for g in ref_grads]),
        torch.cat([g.flatten() for g in grads]),
    )
    cosine = torch.nn.functional.cosine_similarity(flat_ref, flat, dim=0).item()
    assert cosine > 1 - tolerance


def test_sub_batch_bn_on_cuda_matches_the_cpu():
    torch.manual_seed(0)
    x = torch.randn(8, 4, 2, 5, 5)
    outputs = []
    for device in ("cpu", "cuda"):
        bn = SubBatchNorm3d(4, num_splits=4).to(device).train()
        outputs.append(bn(x.to(device)).cpu())
        outputs.append(bn.split_bn.running_mean.cpu())
    torch.testing.assert_close(outputs[0], outputs[2], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(outputs[1], outputs[3], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_short_training_runs_on_cuda(tiny_config, tmp_path, precision):
    cfg = tiny_config(f"train.precision={precision}")
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None
    start = next(e for e in ev.read_events(tmp_path / "run" / "events.jsonl")
                 if e["event"] == ev.RUN_START)  # fmt: skip
    assert "cuda" in json.dumps(start)
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in
               ev.read_events(tmp_path / "run" / "events.jsonl") if e["event"] == ev.TRAIN)  # fmt: skip
