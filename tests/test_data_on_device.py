"""Resampling on the training device gives the worker path's clips (CPU as the device)."""

from __future__ import annotations

import copy

import pytest
import torch

from replication.data.build import build_dataset
from replication.data.dataset import collate_clips
from replication.data.loader import run_grids
from replication.data.on_device import resample_on_device
from replication.data.sampler import ClipRequest
from replication.schedule import build_schedule


@pytest.mark.parametrize(("alpha", "flip"), [(None, False), (4, True)])
def test_device_clips_equal_worker_clips_at_every_grid(tiny_config, alpha, flip):
    cfg = tiny_config(f"data.random_flip={str(flip).lower()}")
    d = cfg.data
    grids, _ = run_grids(build_schedule(cfg).epochs, d.sampling_rate, d.train_jitter_scales[1])
    assert len(grids) > 3  # long cycle x short cycle
    worker = build_dataset(cfg, "train", slowfast_alpha=alpha, progress=False)
    worker.set_grids(grids)
    device = copy.copy(worker)
    device.resample_on = "device"
    box_sizes, flips = set(), set()
    for grid in range(len(grids)):
        requests = [ClipRequest(i, grid, 100 * grid + i) for i in range(5)]
        expected = collate_clips([worker[r] for r in requests])
        boxes = collate_clips([device[r] for r in requests])
        assert boxes["video"].dtype == torch.uint8
        box_sizes |= {tuple(s) for s in boxes["box_size"].tolist()}
        flips |= set(boxes["flip"].tolist())
        got = resample_on_device(boxes, "cpu", alpha)
        assert set(got) == set(expected)
        for key in ("label", "index", "grid", "valid"):
            assert torch.equal(got[key], expected[key])
        pairs = zip(got["video"], expected["video"], strict=True) if alpha else [
            (got["video"], expected["video"])]  # fmt: skip
        for ours, theirs in pairs:
            assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    assert len(box_sizes) > 1  # boxes of one batch differ in size: padding is exercised
    assert flips == ({False, True} if flip else {False})


def test_training_with_device_resampling_follows_the_worker_path(tiny_config, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    """data.resample_on=device through the real loop (SlowFast pathways, every grid, precise BN,
    curve points): the same losses as the worker path, within float rounding."""
    import replication.engine.network as network
    from replication.engine.loop import train
    from replication.io import events as ev

    calls = []
    original = network.resample_on_device
    monkeypatch.setattr(network, "resample_on_device",
                        lambda *a: calls.append(1) or original(*a))  # fmt: skip
    logs = {}
    for where in ("worker", "device"):
        cfg = tiny_config("model.arch=slowfast", f"data.resample_on={where}",
                          "train.curve_fractions=[0.5]", "data.random_flip=true")  # fmt: skip
        summary = train(cfg, tmp_path / where, progress=False)
        log = ev.read_events(tmp_path / where / "events.jsonl")
        logs[where] = (summary, [e["loss"] for e in log if e["event"] == ev.TRAIN])
        assert bool(calls) == (where == "device")  # the device path ran, and only there
    assert logs["device"][1] == pytest.approx(logs["worker"][1], rel=1e-4, abs=1e-5)
    assert logs["device"][0]["metrics"]["videos"] == logs["worker"][0]["metrics"]["videos"]
    start = ev.read_events(tmp_path / "device" / "events.jsonl")[0]
    assert start["config"]["data"]["resample_on"] == "device"
