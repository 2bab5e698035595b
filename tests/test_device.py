"""Device selection and the arithmetic a config asks for, on the CPU (no GPU needed).

CUDA is faked where a test needs to see which device or settings a GPU would get; the real
CUDA steps are in test_gpu.py (``gpu`` marker).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from replication.config import ConfigError, RunConfig, validate_config
from replication.engine import setup
from replication.engine.network import Network, device_arithmetic


@pytest.mark.parametrize(("count", "rank", "expected"), [(0, 0, "cpu"), (1, 0, "cuda:0"),
                                                         (2, 3, "cuda:1")])  # fmt: skip
def test_pick_device_takes_a_gpu_when_torch_sees_one(monkeypatch, count, rank, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    assert str(setup.pick_device(rank)) == expected


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        ({}, (None, False)),  # fp32, contiguous: the paper's reference
        ({"precision": "bf16"}, (torch.bfloat16, False)),
        ({"precision": "fp16", "memory_format": "channels_last_3d"}, (torch.float16, True)),
    ],
)
def test_precision_and_layout_apply_on_cuda_only(train, expected):
    cfg = validate_config({"train": train})
    assert device_arithmetic(cfg, torch.device("cuda", 0)) == expected
    assert device_arithmetic(cfg, torch.device("cpu")) == (None, False)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"mixed_precision": True}, {"precision": "bf16"}),
        ({"mixed_precision": False}, {"precision": "fp32"}),
        ({"channels_last": True}, {"memory_format": "channels_last_3d"}),
        ({"channels_last": False}, {"memory_format": "contiguous"}),
    ],
)
def test_renamed_keys_load_with_their_old_meaning(old, new):
    assert validate_config({"train": old}) == validate_config({"train": new})


def test_renamed_key_beside_its_new_name_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="mixed_precision was renamed precision") as err:
        validate_config({"train": {"mixed_precision": True, "precision": "fp16"}})
    assert "\n" not in str(err.value)


def test_defaults_are_the_reference_arithmetic():
    train = RunConfig().train
    assert (train.precision, train.memory_format, train.cudnn_benchmark) == (
        "fp32", "contiguous", True)  # fmt: skip


def test_scaled_step_matches_the_plain_step_on_the_cpu():
    """The fp16 path's GradScaler (here on the CPU, in fp32) changes no update that is finite."""

    def one_step(scaler):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4 * 4, 5))
        net = Network(model, None, torch.device("cpu"), None, False, None, False, scaler=scaler)  # type: ignore[arg-type]
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        batch = {"video": torch.randn(4, 2, 3, 4, 4), "label": torch.tensor([0, 1, 2, 3]),
                 "grid": torch.tensor([0])}  # fmt: skip
        step = net.step(batch, optimizer)
        return step.loss, [p.detach().clone() for p in model.parameters()]

    plain_loss, plain = one_step(None)
    scaled_loss, scaled = one_step(torch.amp.GradScaler("cpu"))
    assert scaled_loss == plain_loss
    for a, b in zip(plain, scaled, strict=True):
        torch.testing.assert_close(a, b)


def test_fp16_loss_scale_survives_a_checkpoint(tmp_path):
    """A resumed fp16 run continues with the loss scale it had reached, not the initial one."""
    from replication.engine.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from replication.engine.state import TrainState

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    scaler.scale(torch.ones(()))  # the scale exists once a loss was scaled
    scaler.update(new_scale=512.0)
    saved = Checkpoint(TrainState(), {}, {}, [], {}, {}, scaler=scaler.state_dict())
    save_checkpoint(tmp_path / "c.pt", saved)
    resumed = torch.amp.GradScaler("cpu")
    resumed.load_state_dict(load_checkpoint(tmp_path / "c.pt").scaler)
    assert resumed.get_scale() == 512.0
    assert Checkpoint.from_file_dict({**saved.to_file_dict(), "scaler": {}}).scaler == {}
