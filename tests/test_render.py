"""The JSON document's exact layout and the readable table."""

from __future__ import annotations

import json

from shared import K400_BASE, K400_MG

from replication.cli import main
from replication.config import load_config
from replication.schedule import build_schedule
from replication.schedule.render import schedule_table

TOP_KEYS = ["max_epoch", "steps", "lrs", "long_cycle", "epochs", "cost"]
PHASE_KEYS = ["stage", "batch_factor", "num_frames", "crop_size", "end_epoch"]
EPOCH_KEYS = [
    "epoch", "num_frames", "crop_size", "batch_size", "per_gpu_batch_size", "bn",
    "max_sampling_rate", "lr_start", "lr_mid", "eval", "checkpoint", "short_cycle",
]  # fmt: skip
COST_KEYS = ["iterations", "baseline_iterations", "relative_compute", "speedup"]


def test_json_layout_is_the_documented_one(capsys):
    assert main(["schedule", str(K400_MG), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == TOP_KEYS
    assert all(list(p) == PHASE_KEYS for p in doc["long_cycle"])
    assert all(list(e) == EPOCH_KEYS for e in doc["epochs"])
    assert list(doc["cost"]) == COST_KEYS
    first = doc["epochs"][0]
    assert first["bn"] == {"kind": "sub", "splits": 8, "sync_devices": 1}
    assert first["short_cycle"][0] == {"batch_size": 128, "crop_size": 112, "jitter_min": 128}
    assert isinstance(first["eval"], bool) and isinstance(doc["cost"]["iterations"], int)
    assert doc["long_cycle"][0] == dict(zip(PHASE_KEYS, [0, 8, 8, 158, 73], strict=True))


def test_json_baseline_has_nulls(capsys):
    assert main(["schedule", str(K400_BASE), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["long_cycle"] is None
    assert doc["epochs"][0]["short_cycle"] is None and doc["epochs"][0]["max_sampling_rate"] == 0
    assert doc["lrs"] == [1, 0.1, 0.01, 0.001]


def test_floats_are_written_unrounded(capsys):
    main(["schedule", str(K400_MG), "--json"])
    doc = json.loads(capsys.readouterr().out)
    s = build_schedule(load_config(K400_MG))
    assert doc["epochs"][5]["lr_mid"] == s.lr_at(5.5)  # exact, not rounded
    assert doc["lrs"][8] == 0.1**2 * 8


def test_table_shows_phases_and_speedup():
    s = build_schedule(load_config(K400_MG))
    text = schedule_table(s, sampling_rate=2)
    lines = text.splitlines()
    assert lines[0].startswith("358 epochs, LR policy 'steps', warmup 0.01 -> 0.8 over 34 epochs")
    assert any(line.split()[:6] == ["0-73", "8", "158", "512", "(64)", "sub-BN"] for line in lines)
    assert "128@112 64@158 64@158" in text
    assert "theoretical speedup 3.43x" in text
    assert "22, 47, 72, 83" in text
