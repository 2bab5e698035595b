"""Curve evaluations: points at fixed fractions of the baseline's compute, training untouched."""

from __future__ import annotations

import pytest
from shared import ROOT

from replication.config import load_config
from replication.engine.loop import train
from replication.io import events as ev
from replication.schedule import build_schedule, curve_points, run_curve_points

FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
SMOKE = {"baseline": "config/smoke/baseline.yaml", "long_short": "config/smoke/multigrid.yaml"}


def _compute_by_iteration(schedule, clips):
    """Each iteration's (epoch, iteration done, compute so far), walked the slow, obvious way."""
    out, spent = [], 0
    for shape in schedule.epochs:
        sizes, grids = shape.batch_sizes, shape.shapes
        count, left, it = 0, clips, 0
        while left >= sizes[it % len(sizes)]:  # drop-last: a batch that does not fit ends it
            left -= sizes[it % len(sizes)]
            t, s = grids[it % len(sizes)]
            spent += sizes[it % len(sizes)] * t * s * s
            it += 1
            count += 1
            out.append((shape.epoch, count, spent))
    return out


@pytest.mark.parametrize("variant", sorted(SMOKE))
def test_points_fall_where_each_fraction_of_the_baselines_compute_is_spent(variant):
    cfg = load_config(ROOT / SMOKE[variant], [])
    clips = 480
    schedule = build_schedule(cfg, clips)
    base = 16 * 8 * 56**2 * (clips // 16) * cfg.solver.max_epoch  # the baseline's compute
    walk = _compute_by_iteration(schedule, clips)
    points = curve_points(schedule.epochs, clips, FRACTIONS, world_size=1, base_batch_size=16,
                          base_clip_size=8 * 56**2, baseline_epochs=cfg.solver.max_epoch)  # fmt: skip
    for point in points[:-1]:  # the last is the run's end
        index = next(i for i, (e, it, _) in enumerate(walk) if (e, it) == point.position)
        assert walk[index][2] >= point.fraction * base > (walk[index - 1][2] if index else 0)
    assert points[-1].position == walk[-1][:2]  # every curve ends where training ends
    assert points[-1].fraction == pytest.approx(walk[-1][2] / base, abs=1e-6)
    reached = [p.fraction for p in points[:-1]]
    assert reached == [f for f in FRACTIONS if f * base <= walk[-1][2]][: len(reached)]


def test_the_baseline_and_multigrid_share_their_points_fractions():
    """Points are fractions of the same compute, so the variants' curves share their x grid."""
    clips = 480
    points = {
        v: run_curve_points(load_config(ROOT / path, [f"train.curve_fractions={list(FRACTIONS)}"]),
                            build_schedule(load_config(ROOT / path, []), clips), clips)
        for v, path in SMOKE.items()
    }  # fmt: skip
    base = [p.fraction for p in points["baseline"]]
    multigrid = [p.fraction for p in points["long_short"]]
    assert base == list(FRACTIONS)  # the baseline ends exactly at 1.0: no extra end point
    assert multigrid[:-1] == [f for f in FRACTIONS if f < multigrid[-1]]
    assert 0.2 < multigrid[-1] < 0.5  # long + short spends about a third of the compute


def test_no_fractions_no_points():
    cfg = load_config(ROOT / SMOKE["baseline"], ["train.curve_fractions=[]"])
    assert run_curve_points(cfg, build_schedule(cfg, 480), 480) == ()


@pytest.fixture(scope="module")
def with_and_without(tiny_config, tmp_path_factory):
    """The tiny long + short run twice, seeded and deterministic: with curve points and without."""
    root = tmp_path_factory.mktemp("curve")
    cfg = tiny_config("train.curve_fractions=[0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0]")
    logs = {}
    for name, run_cfg in (("with", cfg), ("without", tiny_config())):
        summary = train(run_cfg, root / name, progress=False)
        logs[name] = (summary, ev.read_events(root / name / "events.jsonl"))
    return cfg, logs


def test_curve_evaluations_do_not_change_training(with_and_without):
    _, logs = with_and_without
    (with_summary, with_log), (plain_summary, plain_log) = logs["with"], logs["without"]
    for kind, fields in ((ev.TRAIN, ("step", "loss", "lr")), (ev.EPOCH, ("loss", "clips"))):
        mine, theirs = ([[e[f] for f in fields] for e in log if e["event"] == kind]
                        for log in (with_log, plain_log))  # fmt: skip
        assert mine == theirs, kind
    assert with_summary["metrics"] == plain_summary["metrics"]
    assert not [e for e in plain_log if e["event"] == ev.CURVE]


def test_curve_events_are_logged_at_their_points(with_and_without):
    cfg, logs = with_and_without
    curve = [e for e in logs["with"][1] if e["event"] == ev.CURVE]
    schedule = build_schedule(cfg)
    expected = [(p.epoch, p.iteration, p.fraction) for p in run_curve_points(
        cfg, schedule, len(_train_rows(cfg)))]  # fmt: skip
    assert [(e["epoch"], e["iteration"], e["fraction"]) for e in curve] == expected
    assert all(0 <= e["metrics"]["top1"] <= 100 and e["eval_s"] > 0 for e in curve)
    train_s = [e["train_s"] for e in curve]
    assert train_s == sorted(train_s) and train_s[0] > 0
    epochs = {e["epoch"]: e for e in logs["with"][1] if e["event"] == ev.EPOCH}
    last = curve[-1]  # the end of training: all the loop time, none of the curve time
    assert last["train_s"] == pytest.approx(sum(e["epoch_s"] for e in epochs.values()), rel=1e-6)


def _train_rows(cfg):
    with open(cfg.data.train_annotations) as f:
        return f.read().splitlines()[1:]


def test_a_stop_in_a_curve_evaluation_resumes_to_the_same_curve(with_and_without, tmp_path,
                                                               monkeypatch):  # fmt: skip
    """Stopped inside the second curve evaluation, then inside the last: each point is taken
    once, where it was due, and training ends as the uninterrupted run."""
    from test_train import StopAt

    import replication.engine.curve as curve_module

    cfg, logs = with_and_without
    run, points = tmp_path / "run", sum(e["event"] == ev.CURVE for e in logs["with"][1])
    assert points >= 3
    # The resumed attempt takes the interrupted second point first: the last is its call n - 1.
    for after in (2, points - 1):
        with monkeypatch.context() as patch:
            stop = StopAt(patch, curve_module, "evaluate_views", after)
            assert train(cfg, run, stop_requested=stop, progress=False) is None
    summary = train(cfg, run, progress=False)
    log, reference = ev.read_events(run / "events.jsonl"), logs["with"][1]
    for kind, fields in ((ev.CURVE, ("epoch", "iteration", "step", "fraction", "metrics")),
                         (ev.TRAIN, ("step", "loss"))):  # fmt: skip
        mine, theirs = ([[e[f] for f in fields] for e in x if e["event"] == kind]
                        for x in (log, reference))  # fmt: skip
        assert mine == theirs, kind
    assert summary["metrics"] == logs["with"][0]["metrics"]


def test_a_budget_matched_baseline_takes_the_full_baselines_points():
    """Its fractions are of the full baseline's compute, so its curve lies on the same grid."""
    from replication.workflow import expand_runs, read_plan

    runs = expand_runs(read_plan(ROOT / "config" / "config.yaml"))
    budget = next(r for r in runs if r.group == "budget")
    base = next(r for r in runs if r.variant == "baseline")
    cfg, full = budget.resolved_config(), base.resolved_config()
    assert cfg.train.curve_fractions and cfg.solver.max_epoch < full.solver.max_epoch
    points = run_curve_points(cfg, build_schedule(cfg, 480), 480)
    share = cfg.solver.max_epoch / full.solver.max_epoch
    assert [p.fraction for p in points[:-1]] == [f for f in cfg.train.curve_fractions if f < share]
    assert points[-1].fraction == pytest.approx(share, abs=1e-6)


def test_precise_bn_of_a_curve_point_takes_no_more_batches_than_an_epoch_has(tiny_config,
                                                                            tmp_path):  # fmt: skip
    """A small data set has fewer base-shape batches than train.precise_bn_batches asks."""
    cfg = tiny_config("train.curve_fractions=[1.0]", "train.precise_bn_batches=1000")
    train(cfg, tmp_path / "run", progress=False)
    curve = [e for e in ev.read_events(tmp_path / "run" / "events.jsonl") if e["event"] == ev.CURVE]
    assert len(curve) == 1 and curve[0]["metrics"]["videos"] > 0


def test_a_stop_in_the_final_test_resumes_with_every_point_taken_once(with_and_without,
                                                                      tmp_path, monkeypatch):  # fmt: skip
    """No epoch is left to train after the last one: the resumed job only tests."""
    from test_train import StopAt

    import replication.engine.loop as loop

    cfg, logs = with_and_without
    with monkeypatch.context() as patch:
        stop = StopAt(patch, loop, "final_test", 1)
        assert train(cfg, tmp_path / "run", stop_requested=stop, progress=False) is None
    summary = train(cfg, tmp_path / "run", progress=False)
    curve = [e for e in ev.read_events(tmp_path / "run" / "events.jsonl") if e["event"] == ev.CURVE]
    reference = [e for e in logs["with"][1] if e["event"] == ev.CURVE]
    assert [e["fraction"] for e in curve] == [e["fraction"] for e in reference]
    assert summary["metrics"] == logs["with"][0]["metrics"]
