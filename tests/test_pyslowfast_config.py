"""PySlowFast's configs as their users have them: its key names, `_BASE_` inheritance, six
relative LRs for four steps, cosine without steps. The files below are written for these tests
in PySlowFast's format with the values the multigrid spec's config table gives (section 2.9)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from shared import ROOT

from replication.config import ConfigError, load_config, validate_config
from replication.config.pyslowfast import read_with_bases, translate_file
from replication.config.rules import config_notes
from replication.schedule import build_schedule

# The K400 SlowFast 8x8 R50 baseline, stepwise, as PySlowFast writes it: six LRs, four steps.
K400_BASE = """\
TRAIN: {BATCH_SIZE: 64, EVAL_PERIOD: 10, CHECKPOINT_PERIOD: 10}
DATA: {NUM_FRAMES: 32, SAMPLING_RATE: 2, TRAIN_JITTER_SCALES: [256, 320], TRAIN_CROP_SIZE: 224,
       TEST_CROP_SIZE: 224, INPUT_CHANNEL_NUM: [3, 3], PATH_TO_DATA_DIR: /data/k400}
SLOWFAST: {ALPHA: 4, BETA_INV: 8, FUSION_CONV_CHANNEL_RATIO: 2, FUSION_KERNEL_SZ: 7}
RESNET: {DEPTH: 50, ZERO_INIT_FINAL_BN: true}
BN: {USE_PRECISE_STATS: true, NUM_BATCHES_PRECISE: 200}
SOLVER:
  BASE_LR: 0.1
  LR_POLICY: steps_with_relative_lrs
  STEPS: [0, 94, 154, 196]
  LRS: [1, 0.1, 0.01, 0.001, 0.0001, 0.00001]
  MAX_EPOCH: 239
  MOMENTUM: 0.9
  WEIGHT_DECAY: 1e-4
  WARMUP_EPOCHS: 34.0
  WARMUP_START_LR: 0.01
  OPTIMIZING_METHOD: sgd
MODEL: {NUM_CLASSES: 400, ARCH: slowfast, LOSS_FUNC: cross_entropy, DROPOUT_RATE: 0.5}
TEST: {NUM_ENSEMBLE_VIEWS: 10, NUM_SPATIAL_CROPS: 3}
NUM_GPUS: 8
"""
K400_MULTIGRID = """\
_BASE_: ../base/SLOWFAST_8x8_R50_stepwise.yaml
MULTIGRID: {LONG_CYCLE: true, SHORT_CYCLE: true}
"""
K400_STEPS = [0, 73, 110, 142, 158, 205, 228, 248, 259, 291, 308, 322, 329, 343]
K400_LRS = [8, 4, 2, 1, 0.8, 0.4, 0.2, 0.1, 0.08, 0.04, 0.02, 0.01, 0.01, 0.001]

# A cosine config as PySlowFast ships I3D/Slow ones (no steps), run with the short cycle only.
COSINE_SHORT = """\
SOLVER: {BASE_LR: 0.1, LR_POLICY: cosine, MAX_EPOCH: 196, WARMUP_EPOCHS: 34.0,
         WARMUP_START_LR: 0.01}
MODEL: {ARCH: i3d}
DATA: {NUM_FRAMES: 8, SAMPLING_RATE: 8}
MULTIGRID: {SHORT_CYCLE: true}
"""


@pytest.fixture
def k400(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base/SLOWFAST_8x8_R50_stepwise.yaml").write_text(K400_BASE)
    (tmp_path / "multigrid").mkdir()
    child = tmp_path / "multigrid/SLOWFAST_8x8_R50_stepwise_multigrid.yaml"
    child.write_text(K400_MULTIGRID)
    return child


def test_a_stepwise_multigrid_config_with_a_base_gives_the_reference_schedule(k400):
    cfg, _, notes = translate_file(k400)
    schedule = build_schedule(cfg)
    assert list(schedule.steps) == K400_STEPS
    assert list(schedule.lrs) == pytest.approx(K400_LRS, rel=1e-12)
    assert schedule.max_epoch == 358
    assert (cfg.data.num_frames, cfg.model.slowfast_alpha, cfg.train.num_gpus) == (32, 4, 8)
    assert cfg.solver.nesterov  # PySlowFast's default, which the file does not set
    assert any(n.startswith("solver.lrs: 6 entries for 4 steps; the last 2") for n in notes)
    assert "DATA.PATH_TO_DATA_DIR: '/data/k400' not read (no counterpart in this suite)" in notes
    assert not any("OPTIMIZING_METHOD" in n or "LOSS_FUNC" in n for n in notes)  # agreed values


def test_the_baseline_reads_only_one_lr_per_step_as_pyslowfast_does(k400):
    cfg, _, _ = translate_file(k400.parent.parent / "base/SLOWFAST_8x8_R50_stepwise.yaml")
    lr = build_schedule(cfg).lr
    assert [lr.policy_lr(e) for e in (0, 94, 154, 196, 238)] == pytest.approx(
        [0.1, 0.01, 0.001, 0.0001, 0.0001]
    )


def test_a_cosine_config_without_steps_runs_the_short_cycle(tmp_path):
    path = tmp_path / "I3D_8x8_R50_short.yaml"
    path.write_text(COSINE_SHORT)
    cfg, _, _ = translate_file(path)
    assert cfg.solver.steps == () and cfg.solver.lr_policy == "cosine"
    schedule = build_schedule(cfg)
    assert schedule.max_epoch == int(196 * 1.5)
    half = schedule.max_epoch / 2  # PySlowFast: end + (base - end) * (cos(pi * e / max) + 1) / 2
    assert schedule.lr.policy_lr(half) == pytest.approx(0.1 * (math.cos(math.pi / 2) + 1) / 2)


# PySlowFast's configs/Kinetics/I3D_NLN_8x8_R50.yaml, its model and non-local keys.
I3D_NLN = """\
MODEL: {ARCH: i3d, NUM_CLASSES: 400}
DATA: {NUM_FRAMES: 8, SAMPLING_RATE: 8}
RESNET: {DEPTH: 50, ZERO_INIT_FINAL_BN: true}
NONLOCAL:
  LOCATION: [[[]], [[1, 3]], [[1, 3, 5]], [[]]]
  GROUP: [[1], [1], [1], [1]]
  INSTANTIATION: softmax
"""


def test_an_i3d_nln_config_is_non_local_i3d(tmp_path):
    path = tmp_path / "I3D_NLN_8x8_R50.yaml"
    path.write_text(I3D_NLN)
    cfg, _, notes = translate_file(path)
    assert (cfg.model.arch, cfg.model.depth) == ("i3d_nl", 50)
    assert not [n for n in notes if n.startswith("NONLOCAL.")]
    plain = tmp_path / "I3D_8x8_R50.yaml"
    plain.write_text(I3D_NLN.replace("[[1, 3]]", "[[]]").replace("[[1, 3, 5]]", "[[]]"))
    assert translate_file(plain)[0].model.arch == "i3d"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("ARCH: i3d", "ARCH: slow", "NONLOCAL.LOCATION"),  # SLOW_NLN: not built here
        ("[[1, 3, 5]]", "[[1, 3]]", "NONLOCAL.LOCATION"),
        ("INSTANTIATION: softmax", "INSTANTIATION: dot_product", "NONLOCAL.INSTANTIATION"),
        ("  INSTANTIATION: softmax\n", "", "NONLOCAL.INSTANTIATION"),  # PySlowFast's default
    ],
)
def test_non_local_blocks_this_suite_would_not_build_are_refused(tmp_path, old, new, key):
    path = tmp_path / "nln.yaml"
    path.write_text(I3D_NLN.replace(old, new))
    with pytest.raises(
        ConfigError, match=rf"nln.yaml: {key}: .*built only as PySlowFast's I3D_NLN"
    ):
        translate_file(path)


def test_rules_for_lrs_and_empty_steps():
    six = validate_config({"solver": {"steps": [0, 2, 4, 6], "lrs": [1, 0.1, 0.01, 1e-3, 1e-4,
                                      1e-5], "max_epoch": 8}})  # fmt: skip
    assert config_notes(six) == [
        "solver.lrs: 6 entries for 4 steps; the last 2 ([0.0001, 1e-05]) are not used, as in "
        "PySlowFast"
    ]
    with pytest.raises(ConfigError, match=r"solver.lrs: needs one entry per step \(3\), got 2"):
        validate_config({"solver": {"steps": [0, 2, 4], "lrs": [1, 0.1], "max_epoch": 8}})
    with pytest.raises(ConfigError, match="must start at epoch 0, got"):
        validate_config({"solver": {"steps": [], "max_epoch": 8}})  # steps policy needs them
    with pytest.raises(ConfigError, match=r"multigrid\.long_cycle runs its cycles between steps"):
        validate_config({"solver": {"steps": [], "lr_policy": "cosine", "max_epoch": 8},
                         "multigrid": {"long_cycle": True}})  # fmt: skip


def test_bad_pyslowfast_input_is_one_line_naming_file_and_key(tmp_path):
    bad = tmp_path / "adam.yaml"
    bad.write_text("SOLVER: {OPTIMIZING_METHOD: adam}\n")
    with pytest.raises(ConfigError, match=r"adam.yaml: SOLVER.OPTIMIZING_METHOD: 'adam': only SGD"):
        translate_file(bad)
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("_BASE_: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"orphan.yaml: _BASE_: no such base config .*missing"):
        read_with_bases(orphan)
    loop = tmp_path / "loop.yaml"
    loop.write_text("_BASE_: loop.yaml\n")
    with pytest.raises(ConfigError, match="_BASE_: circular"):
        read_with_bases(loop)
    arch = tmp_path / "mvit.yaml"
    arch.write_text("MODEL: {ARCH: mvit}\n")
    with pytest.raises(ConfigError, match=r"MODEL\.ARCH: .mvit. is not built here"):
        translate_file(arch)


def test_the_command_writes_a_config_that_loads_to_the_same_run(k400, tmp_path):
    out = tmp_path / "ours.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "replication", "pyslowfast-config", str(k400), "--write", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "note: solver.lrs: 6 entries for 4 steps" in done.stderr
    assert out.read_text().startswith("# Translated from PySlowFast's")
    assert load_config(out) == translate_file(k400)[0]
