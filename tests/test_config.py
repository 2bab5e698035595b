"""Loading and validating experiment configs: defaults, overrides, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from shared import CHARADES_MG, K400_BASE, K400_MG, ROOT, SSV2_MG

from replication.cli import main
from replication.config import ConfigError, RunConfig, load_config


@pytest.mark.parametrize("path", [K400_BASE, K400_MG, SSV2_MG, CHARADES_MG])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.train.batch_size % cfg.train.num_gpus == 0


def test_empty_file_is_the_defaults(write_yaml):
    assert load_config(write_yaml("")) == RunConfig()


def test_values_and_types(write_yaml):
    cfg = load_config(SSV2_MG)
    assert cfg.solver.warmup_start_lr == 1e-4  # YAML 1.1 would read "1e-4" as a string
    assert cfg.data.train_jitter_scales == (256, 320)
    assert cfg.multigrid.long_cycle_factors[0] == (0.25, 0.5**0.5)
    with pytest.raises(Exception, match="frozen"):
        cfg.solver.base_lr = 1.0  # type: ignore[misc]


def test_overrides_apply_in_order():
    overrides = [
        "solver.max_epoch=300",
        "solver.max_epoch=30",
        "solver.steps=[0,10]",
        "solver.lrs=[1,0.1]",
        "solver.warmup_epochs=2",
    ]
    cfg = load_config(K400_MG, overrides)
    assert cfg.solver.max_epoch == 30 and cfg.solver.steps == (0, 10) and cfg.solver.lrs == (1, 0.1)


def test_override_errors_name_the_override():
    with pytest.raises(ConfigError) as err:
        load_config(K400_MG, ["solver.max_epoch=-3"])
    assert str(err.value).startswith(f"{K400_MG} (--set solver.max_epoch): solver.max_epoch:")


BAD = {
    "unknown key": ("data:\n  num_frame: 8\n", "data.num_frame", "unknown key (did you mean data.num_frames?)"),
    "unknown section": ("optimizer:\n  lr: 1\n", "optimizer", "unknown key"),
    "wrong type": ("data:\n  num_frames: eight\n", "data.num_frames", "valid integer"),
    "bool for int": ("train:\n  num_gpus: true\n", "train.num_gpus", "valid integer"),
    "non-increasing steps": ("solver:\n  steps: [0, 50, 50, 90]\n", "solver.steps", "strictly increasing"),
    "steps not from 0": ("solver:\n  steps: [5, 50]\n", "solver.steps", "must start at epoch 0"),
    "step past the end": ("solver:\n  steps: [0, 50]\n  max_epoch: 40\n", "solver.steps", "before solver.max_epoch"),
    "negative epochs": ("solver:\n  max_epoch: -5\n", "solver.max_epoch", "greater than 0"),
    "negative warmup": ("solver:\n  warmup_epochs: -1\n", "solver.warmup_epochs", "greater than or equal to 0"),
    "batch over gpus": ("train:\n  batch_size: 30\n  num_gpus: 8\n", "train.batch_size", "do not divide"),
    "lrs length": ("solver:\n  lrs: [1, 0.1]\n", "solver.lrs", "one entry per step"),
    "zero frames": (
        "multigrid:\n  long_cycle: true\n  long_cycle_factors: [[0.01, 1.0], [1, 1]]\n",
        "multigrid.long_cycle_factors", "gives 0 frames",
    ),
    "zero pixels": (
        "multigrid:\n  short_cycle: true\n  short_cycle_factors: [0.001]\n",
        "multigrid.short_cycle_factors", "0-pixel crop",
    ),
    "jitter reversed": ("data:\n  train_jitter_scales: [320, 256]\n", "data.train_jitter_scales", "larger than max"),
    "jitter one value": ("data:\n  train_jitter_scales: [256]\n", "data.train_jitter_scales", "too few values"),
    "bad policy": ("solver:\n  lr_policy: linear\n", "solver.lr_policy", "'steps' or 'cosine'"),
    "cosine end above base": (
        "solver:\n  lr_policy: cosine\n  cosine_end_lr: 0.5\n", "solver.cosine_end_lr", "below solver.base_lr",
    ),
    "long cycle one step": (
        "solver:\n  steps: [0]\nmultigrid:\n  long_cycle: true\n", "solver.steps", "at least 2 steps",
    ),
    "sub-BN split": (
        "train:\n  batch_size: 28\nmultigrid:\n  long_cycle: true\n  bn_base_size: 8\n",
        "train.batch_size", "sub-batch BN groups",
    ),
    "zero eval freq": ("multigrid:\n  eval_freq: 0\n", "multigrid.eval_freq", "greater than 0"),
    "shape larger than base": (
        "multigrid:\n  long_cycle: true\n  long_cycle_factors: [[4, 1], [1, 1]]\n",
        "multigrid.long_cycle_factors", "batch factor of 0",
    ),
    "yaml syntax": ("data: [1, 2\n", "", "invalid YAML: line"),
    "top level list": ("- 1\n- 2\n", "", "top level must be a mapping"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_is_one_line_and_exit_2(case, write_yaml, capsys):
    text, key, fragment = BAD[case]
    path = write_yaml(text)
    assert main(["schedule", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {path}: {key}: " if key else f"error: {path}: "), err
    assert fragment in err, err


def test_missing_file_and_bad_override(tmp_path, capsys):
    assert main(["schedule", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nope.yaml'}: no such config file\n"
    assert main(["schedule", str(K400_MG), "--set", "solver.max_epochs=3"]) == 2
    assert "--set: solver.max_epochs: unknown key (did you mean solver.max_epoch?)" in (
        capsys.readouterr().err
    )
    assert main(["schedule", str(K400_MG), "--set", "nonsense"]) == 2
    assert "override must look like section.key=value" in capsys.readouterr().err


def test_module_entry_point_exit_code(write_yaml):
    path = write_yaml("solver:\n  steps: [0, 9, 3]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "replication", "schedule", str(path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr == f"error: {path}: solver.steps: must be strictly increasing, got [0, 9, 3]\n"
    )
    assert proc.stdout == ""
