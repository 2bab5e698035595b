"""The schedule against PySlowFast's recorded behaviour (shared spec section 2.10) and its own laws."""

from __future__ import annotations

import itertools
import math

import pytest
from shared import CHARADES_MG, K400_BASE, K400_MG, SSV2_MG

from replication.config import load_config
from replication.schedule import BNMode, build_schedule

# PySlowFast's get_long_cycle_schedule on the K400 SlowFast 8x8 R50 long+short config, run
# unmodified (spec 2.10): (LR stage, [batch factor, T, S], end epoch).
K400_GOLDEN = [
    (0, [8, 8, 158], 73), (0, [4, 16, 158], 110), (0, [2, 16, 224], 142), (0, [1, 32, 224], 158),
    (1, [8, 8, 158], 205), (1, [4, 16, 158], 228), (1, [2, 16, 224], 248), (1, [1, 32, 224], 259),
    (2, [8, 8, 158], 291), (2, [4, 16, 158], 308), (2, [2, 16, 224], 322), (2, [1, 32, 224], 329),
    (3, [1, 32, 224], 358),
]  # fmt: skip
K400_STEPS = [0, 73, 110, 142, 158, 205, 228, 248, 259, 291, 308, 322, 329, 343]
K400_LRS = [8, 4, 2, 1, 0.8, 0.4, 0.2, 0.1, 0.08, 0.04, 0.02, 0.01, 0.01, 0.001]
K400_EVALS_HEAD = [22, 47, 72, 83, 96, 109, 119, 130, 141, 145, 151, 157, 172, 188, 204]


def schedule_of(path, *overrides):
    return build_schedule(load_config(path, overrides))


def test_k400_long_cycle_matches_pyslowfast():
    s = schedule_of(K400_MG)
    got = [
        (p.stage, [p.batch_factor, p.num_frames, p.crop_size], p.end_epoch) for p in s.long_cycle
    ]
    assert got == K400_GOLDEN
    assert s.max_epoch == 358
    assert list(s.steps) == K400_STEPS
    assert list(s.lrs) == pytest.approx(K400_LRS, rel=1e-12)


def test_k400_epochs_match_worked_table():
    s = schedule_of(K400_MG)
    # epoch: (T, crop, global batch, per-GPU batch, short-cycle batches, crops, BN, max stride)
    table = {
        0: (8, 158, 512, 64, [128, 64, 64], [112, 158, 158], BNMode("sub", splits=8), 8),
        73: (16, 158, 256, 32, [64, 32, 32], [112, 158, 158], BNMode("sub", splits=4), 4),
        110: (16, 224, 128, 16, [64, 32, 16], [112, 158, 224], BNMode("sub", splits=2), 4),
        142: (32, 224, 64, 8, [32, 16, 8], [112, 158, 224], BNMode("batch"), 2),
        329: (32, 224, 64, 8, [32, 16, 8], [112, 158, 224], BNMode("batch"), 2),
        357: (32, 224, 64, 8, [32, 16, 8], [112, 158, 224], BNMode("batch"), 2),
    }
    for epoch, (t, crop, batch, per_gpu, short_b, short_s, bn, stride) in table.items():
        e = s.epochs[epoch]
        assert (e.num_frames, e.crop_size, e.batch_size, e.per_gpu_batch_size) == (
            t, crop, batch, per_gpu,
        )  # fmt: skip
        assert [g.batch_size for g in e.short_cycle] == short_b
        assert [g.crop_size for g in e.short_cycle] == short_s
        assert e.bn == bn
        assert e.max_sampling_rate == stride
    # Spatial sampling grid: [128, 320] at crop 112, [181, 320] at 158, [256, 320] at 224.
    assert [g.jitter_min for g in s.epochs[110].short_cycle] == [128, 181, 256]


def test_k400_learning_rate():
    s = schedule_of(K400_MG)
    # Warmup 0.01 -> 0.8 over 34 epochs, not rescaled; then 0.8 x gamma^stage x batch factor.
    assert s.lr_at(0) == pytest.approx(0.01)
    assert s.lr_at(17) == pytest.approx(0.01 + 17 * (0.8 - 0.01) / 34)
    assert s.lr_at(34) == pytest.approx(0.8)
    expected = {
        72.99: 0.8,
        73: 0.4,
        110: 0.2,
        142: 0.1,
        158: 0.08,
        259: 0.008,
        308: 0.002,
        322: 0.001,
    }
    expected |= {329: 0.001, 342.99: 0.001, 343: 0.0001, 357.9: 0.0001}
    for epoch, lr in expected.items():
        assert s.lr_at(epoch) == pytest.approx(lr), epoch
    assert s.epochs[100].lr_start == s.epochs[100].lr_mid == pytest.approx(0.4)


def test_k400_eval_and_checkpoint_epochs():
    s = schedule_of(K400_MG)
    evals = [e.epoch for e in s.epochs if e.eval]
    assert evals[: len(K400_EVALS_HEAD)] == K400_EVALS_HEAD
    assert evals[-1] == 357
    assert evals == [e.epoch for e in s.epochs if e.checkpoint]
    # The last epoch of every shape is checkpointed: the reference rebuilds the model from it.
    assert all(s.epochs[p.end_epoch - 1].checkpoint for p in s.long_cycle)


def test_no_evaluations_during_training_leaves_checkpoints_where_they_were():
    on, off = schedule_of(K400_MG), schedule_of(K400_MG, "train.eval_during_training=false")
    assert not any(e.eval for e in off.epochs)  # the final test alone, after the last epoch
    assert [e.checkpoint for e in off.epochs] == [e.checkpoint for e in on.epochs]
    assert [e.lr_start for e in off.epochs] == [e.lr_start for e in on.epochs]


def test_baseline_is_the_config():
    s = schedule_of(K400_BASE)
    assert s.long_cycle is None and s.max_epoch == 239
    assert list(s.steps) == [0, 94, 154, 196]
    assert {(e.num_frames, e.crop_size, e.batch_size, e.per_gpu_batch_size) for e in s.epochs} == {
        (32, 224, 64, 8)
    }
    assert all(e.bn == BNMode("batch") and e.max_sampling_rate == 0 for e in s.epochs)
    assert all(e.short_cycle is None and e.jitter_min == 256 for e in s.epochs)
    assert [e.epoch for e in s.epochs if e.eval] == [*range(9, 239, 10), 238]
    assert [s.lr_at(x) for x in (34, 94, 154, 196)] == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    assert s.cost.iterations == s.cost.baseline_iterations
    assert s.cost.speedup == pytest.approx(1.0)
    assert {e.shapes for e in s.epochs} == {((32, 224),)}


def test_epoch_shapes_follow_the_short_cycle():
    # What the trainer counts FLOPs for before timing: every (T, S) an epoch trains at.
    s = schedule_of(K400_MG)
    # The reference sizes short-cycle grids from the base crop, so a coarse phase repeats one.
    assert s.epochs[0].shapes == ((8, 112), (8, 158), (8, 158))
    assert s.epochs[-1].shapes == ((32, 112), (32, 158), (32, 224))
    assert schedule_of(K400_MG, "multigrid.short_cycle=false").epochs[0].shapes == ((8, 158),)


def test_short_cycle_only_truncates_and_keeps_lr():
    s = schedule_of(K400_MG, "multigrid.long_cycle=false")
    assert s.long_cycle is None
    assert list(s.steps) == [int(x * 1.5) for x in (0, 94, 154, 196)] == [0, 141, 231, 294]
    assert s.max_epoch == int(239 * 1.5) == 358
    assert list(s.lrs) == [1, 0.1, 0.01, 0.001]
    e = s.epochs[0]
    assert [(g.batch_size, g.crop_size) for g in e.short_cycle] == [(32, 112), (16, 158), (8, 224)]
    assert s.lr_at(100) == pytest.approx(0.1) and s.lr_at(300) == pytest.approx(0.0001)
    # Short cycle only: PySlowFast has no schedule, so the plain periods apply.
    assert [e.epoch for e in s.epochs if e.eval][:3] == [9, 19, 29]


def test_long_cycle_without_short_cycle_runs():
    # PySlowFast raises IndexError here (spec 5.1); the fine-tune phase takes the last shape.
    s = schedule_of(K400_MG, "multigrid.short_cycle=false")
    assert s.long_cycle[-1].stage == 3
    assert (s.long_cycle[-1].batch_factor, s.long_cycle[-1].num_frames) == (1, 32)
    assert s.long_cycle[-1].crop_size == 224 and s.max_epoch == 358
    assert all(e.short_cycle is None for e in s.epochs)
    assert [p.batch_factor for p in s.long_cycle[:4]] == [8, 4, 2, 1]
    # The spatial sampling grid still follows the crop (the reference sets DEFAULT_S here too).
    assert s.epochs[0].jitter_min == round(256 * 158 / 224)


def test_without_fine_tune_every_stage_cycles():
    with_ft = schedule_of(K400_MG)
    s = schedule_of(K400_MG, "multigrid.fine_tune=false")
    shapes = [(p.batch_factor, p.num_frames, p.crop_size) for p in s.long_cycle]
    cycle = [(8, 8, 158), (4, 16, 158), (2, 16, 224), (1, 32, 224)]
    # The last LR stage (baseline epochs 196-239) cycles too: 4 stages x 4 shapes, no stage 4.
    assert shapes == cycle * 4
    assert [p.stage for p in s.long_cycle] == [j for j in range(4) for _ in cycle]
    assert s.long_cycle[-1].end_epoch == s.max_epoch == round(239 * 1.5) == 358
    assert shapes[-1] == (1, 32, 224)  # training still ends at the base shape
    # One LR step per phase, gamma**stage x batch factor, the last stage not split in half.
    assert list(s.steps) == [0] + [p.end_epoch for p in s.long_cycle[:-1]]
    expected = [0.1**p.stage * p.batch_factor for p in s.long_cycle]
    assert list(s.lrs) == pytest.approx(expected, rel=1e-12)
    assert s.lr_at(357.9) == pytest.approx(0.1 * 0.001)
    # Cycling the last stage swaps base-shape epochs for coarse ones: fewer iterations.
    assert s.cost.iterations < with_ft.cost.iterations
    assert s.cost.speedup > with_ft.cost.speedup
    assert all(s.epochs[p.end_epoch - 1].checkpoint for p in s.long_cycle)
    assert all(s.epochs[p.end_epoch - 1].eval for p in s.long_cycle)


def test_fine_tune_true_is_the_default():
    assert schedule_of(K400_MG, "multigrid.fine_tune=true") == schedule_of(K400_MG)
    assert load_config(K400_MG).multigrid.fine_tune is True


@pytest.mark.parametrize(
    ("path", "overrides"), [(K400_BASE, ()), (K400_MG, ("multigrid.long_cycle=false",))]
)
def test_fine_tune_is_ignored_without_long_cycle(path, overrides):
    assert schedule_of(path, *overrides, "multigrid.fine_tune=false") == schedule_of(
        path, *overrides
    )


def test_without_fine_tune_one_step_is_one_long_cycle():
    # The fine-tune phase is why the long cycle needs 2 steps; without it one stage suffices.
    s = schedule_of(K400_MG, "multigrid.fine_tune=false", "solver.steps=[0]", "solver.lrs=[1]")
    assert [p.stage for p in s.long_cycle] == [0, 0, 0, 0]
    assert s.max_epoch == 358 and list(s.lrs) == [8, 4, 2, 1]


@pytest.mark.parametrize(
    ("path", "overrides", "speedup"),
    [
        # Harness arithmetic recorded in the shared spec 2.10 (not SlowFast output).
        (K400_MG, (), 3.43),
        (K400_MG, ("multigrid.long_cycle=false",), 1.56),
        (K400_MG, ("multigrid.short_cycle=false",), 2.19),
        (SSV2_MG, (), 3.38),
        (CHARADES_MG, (), 3.47),
    ],
)
def test_theoretical_speedups(path, overrides, speedup):
    cost = schedule_of(path, *overrides).cost
    assert cost.baseline_iterations / cost.iterations == pytest.approx(speedup, abs=0.01)
    assert cost.speedup == pytest.approx(speedup, abs=0.01)


def test_ssv2_bn_syncs_when_the_batch_is_small():
    s = schedule_of(SSV2_MG)
    assert [s.epochs[p.start_epoch].bn for p in s.long_cycle[:4]] == [
        BNMode("sub", splits=2), BNMode("batch"), BNMode("sync", sync_devices=2),
        BNMode("sync", sync_devices=4),
    ]  # fmt: skip


def test_zero_length_phases_keep_the_reference_rounding():
    # Tiny configs give empty phases (repeated steps), exactly as the reference does.
    s = schedule_of(K400_MG, "solver.steps=[0, 2, 3]", "solver.max_epoch=4",
                    "solver.lrs=[1, 0.1, 0.01]", "solver.warmup_epochs=0")  # fmt: skip
    ends = [p.end_epoch for p in s.long_cycle]
    assert len(ends) != len(set(ends))
    assert ends == sorted(ends) and ends[-1] == s.max_epoch == round(4 * 1.5)
    assert len(s.steps) != len(set(s.steps))
    for e in s.epochs:  # every epoch's LR comes from the phase that holds it
        phase = s.long_cycle[e.phase]
        assert phase.start_epoch <= e.epoch < phase.end_epoch


def test_cosine_baseline_follows_half_cosine():
    s = schedule_of(K400_BASE, "solver.lr_policy=cosine", "solver.warmup_epochs=0")
    for epoch in (0, 50, 119.5, 200):
        assert s.lr_at(epoch) == pytest.approx(0.1 * (1 + math.cos(math.pi * epoch / 239)) / 2)
    assert s.lrs is None


def test_cosine_under_long_cycle_decays_over_iterations():
    s = schedule_of(K400_MG, "solver.lr_policy=cosine", "solver.warmup_epochs=0",
                    "solver.cosine_end_lr=0.001")  # fmt: skip
    assert s.lrs is None
    assert list(s.steps) == [0] + [p.end_epoch for p in s.long_cycle[:-1]]
    for p in s.long_cycle:
        if p.end_epoch == p.start_epoch:
            continue
        lrs = [s.lr_at(x / 4) for x in range(4 * p.start_epoch, 4 * p.end_epoch)]
        assert all(a >= b for a, b in itertools.pairwise(lrs))  # decays within a shape
        # Linear scaling: the LR is the batch factor times the baseline cosine at that progress.
        assert s.lr_at(p.start_epoch) <= p.batch_factor * 0.1 + 1e-12
    assert s.lr_at(0) == pytest.approx(0.8)
    assert s.lr_at(357.999) == pytest.approx(0.001, rel=1e-3)
    # Progress is measured in iterations: the coarse first shape (8x batch, 1/4 of the
    # iterations of its epochs) leaves more of the decay for later than its 73/358 epochs would.
    first = s.long_cycle[0]
    progress = s.lr.progress[first.end_epoch]
    assert progress < first.end_epoch / s.max_epoch


def test_linear_scaling_gives_a_1_gpu_run_the_lr_the_paper_rule_gives():
    """K400's config is written for 8 GPUs x 8 clips; on 1 GPU with 8 clips every LR is 1/8."""
    eight = schedule_of(K400_MG)
    one = schedule_of(K400_MG, "train.num_gpus=1", "train.batch_size=8",
                      "solver.lr_reference_batch=64")  # fmt: skip
    for epoch in (0, 5.5, 33.9, 34, 100, 200.25, 357):
        assert one.lr_at(epoch) == pytest.approx(eight.lr_at(epoch) / 8, rel=1e-12)
    assert one.lr.warmup_start_lr == pytest.approx(0.01 / 8)
    # The same rule at the batch it was written for changes nothing.
    assert schedule_of(K400_MG, "solver.lr_reference_batch=64").lr == eight.lr
    cosine = ("solver.lr_policy=cosine", "solver.cosine_end_lr=0.001")
    a, b = schedule_of(K400_BASE, *cosine), schedule_of(K400_BASE, *cosine,
                                                        "train.batch_size=128", "solver.lr_reference_batch=64")  # fmt: skip
    assert b.lr.cosine_end_lr == pytest.approx(2 * a.lr.cosine_end_lr)
    assert b.lr_at(100) == pytest.approx(2 * a.lr_at(100))


def test_random_order_permutes_each_stage_and_keeps_the_fine_tune_phase():
    """The paper's ablation: the same shapes and work per LR stage, visited in a random order;
    the same config always gives the same order (resume stays exact)."""
    ordered = schedule_of(K400_MG)
    shuffled = schedule_of(K400_MG, "multigrid.long_cycle_order=random")
    assert shuffled == schedule_of(K400_MG, "multigrid.long_cycle_order=random")

    def stages(s):
        out = {}
        for p in s.long_cycle:
            out.setdefault(p.stage, []).append((p.batch_factor, p.num_frames, p.crop_size))
        return out

    a, b = stages(ordered), stages(shuffled)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    assert any(a[k] != b[k] for k in a)  # this seed changes the order of some stage
    assert shuffled.long_cycle[-1] == ordered.long_cycle[-1]  # fine-tune: base shape, last
    assert shuffled.lrs[-2:] == ordered.lrs[-2:]  # its two LRs too
    assert shuffled.cost.iterations == pytest.approx(ordered.cost.iterations, rel=0.01)
    other = schedule_of(K400_MG, "multigrid.long_cycle_order=random", "multigrid.order_seed=1")
    assert stages(other) != b
