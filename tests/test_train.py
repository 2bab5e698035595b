"""The training loop end to end on tiny models and real mp4 files (CPU, seconds per run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from shared import CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS

from replication.data import frames
from replication.engine import epoch_end
from replication.engine.loop import train
from replication.io import RunPaths
from replication.io import events as ev
from replication.schedule import build_schedule

# (arch, depth, base LR): the depth-50 R(2+1)D diverges at the others' LR with 2-clip BN groups.
ARCHS = [
    ("slow", 18, 0.01), ("i3d", 18, 0.01), ("i3d_nl", 18, 0.01), ("slowfast", 18, 0.01),
    ("x3d", 11, 0.01), ("r2plus1d", 50, 0.002), ("csn", 50, 0.01),
]  # fmt: skip


@pytest.mark.parametrize(("arch", "depth", "lr"), ARCHS, ids=[a[0] for a in ARCHS])
def test_every_family_trains_through_every_shape_and_grid(tiny_config, tmp_path, arch, depth, lr):
    longer = ("solver.steps=[0,4]", "solver.max_epoch=6", f"solver.base_lr={lr}")
    cfg = tiny_config(f"model.arch={arch}", f"model.depth={depth}", *longer)
    summary = train(cfg, tmp_path / "run", progress=False)
    log = ev.read_events(tmp_path / "run" / "events.jsonl")
    schedule = build_schedule(cfg)
    shapes = {
        (p.num_frames, p.crop_size) for p in schedule.long_cycle if p.end_epoch > p.start_epoch
    }
    phases = [e for e in log if e["event"] == ev.PHASE]
    assert {(e["num_frames"], e["crop_size"]) for e in phases} == shapes
    steps = [e for e in log if e["event"] == ev.TRAIN]
    assert {e["grid"] for e in steps} == {0, 1, 2}  # every short-cycle grid ran
    assert {(e["num_frames"], e["crop_size"]) for e in steps} >= {(4, 16), (4, 32), (1, 16)}
    losses = [e["loss"] for e in log if e["event"] == ev.EPOCH]
    # It learns: epochs run on different grids, so compare the later half's best with the start.
    assert min(losses[len(losses) // 2 :]) < losses[0], losses
    assert summary["metrics"]["videos"] == CLASSES * VAL_PER_CLASS
    assert summary["train_gflops"] > 0


def test_event_log_has_every_event_in_order(tiny_config, tmp_path):
    train(tiny_config("train.curve_fractions=[0.5]"), tmp_path / "run", progress=False)
    log = ev.read_events(tmp_path / "run" / "events.jsonl")
    names = [e["event"] for e in log]
    assert names[0] == ev.RUN_START and names[1] == ev.PHASE and names[-1] == ev.RUN_END
    assert set(names) == set(ev.REQUIRED)
    for e in log:
        assert ev.REQUIRED[e["event"]] <= e.keys()
    start = log[0]
    assert start["config"]["model"]["arch"] == "slow" and start["versions"]["torch"]
    epochs = [e["epoch"] for e in log if e["event"] == ev.EPOCH]
    assert epochs == list(range(build_schedule(tiny_config()).max_epoch))


def test_precise_bn_runs_before_evaluations_and_the_final_test_only(
    tiny_config, tmp_path, monkeypatch
):
    """Checkpoint-only epochs skip the pass (their statistics reach no evaluation); with no
    evaluation during training it runs once, after the last epoch, and the test still gets it."""
    passes: list[int] = []
    real = epoch_end.recompute_bn_stats
    monkeypatch.setattr(epoch_end, "recompute_bn_stats",
                        lambda run, plan, *a: passes.append(plan.epoch) or real(run, plan, *a))  # fmt: skip
    every = ("train.checkpoint_period=1", "train.eval_period=2", "solver.max_epoch=5",
             "solver.steps=[0,3]", "multigrid.long_cycle=false", "multigrid.short_cycle=false")  # fmt: skip
    for evaluate, expected in (("true", [1, 3, 4]), ("false", [4])):
        passes.clear()
        cfg = tiny_config(*every, f"train.eval_during_training={evaluate}")
        summary = train(cfg, tmp_path / evaluate, progress=False)
        log = ev.read_events(tmp_path / evaluate / "events.jsonl")
        assert len([e for e in log if e["event"] == ev.CHECKPOINT]) == 5
        evals = [e["epoch"] for e in log if e["event"] == ev.EVAL]
        assert evals == (expected if evaluate == "true" else [])
        assert passes == expected
        assert summary["metrics"]["videos"] == CLASSES * VAL_PER_CLASS


def test_interrupted_run_resumes_to_identical_results(tiny_config, tmp_path):
    cfg = tiny_config()
    reference = train(cfg, tmp_path / "a", progress=False)
    for stop_at in (3, 9):  # mid-epoch in the first phase, then later in another phase
        calls = iter(range(10**6))

        def stop(calls=calls, n=stop_at) -> bool:
            return next(calls) == n

        assert train(cfg, tmp_path / "b", should_stop=stop, progress=False) is None
    resumed = train(cfg, tmp_path / "b", progress=False)
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["steps"] == reference["steps"]
    log = ev.read_events(tmp_path / "b" / "events.jsonl")
    epochs = [e["epoch"] for e in log if e["event"] == ev.EPOCH]
    assert epochs == sorted(set(epochs)) == list(range(len(epochs)))  # none missing, none twice
    starts = [e for e in log if e["event"] == ev.RUN_START]
    assert [s["resumed"] for s in starts] == [False, True, True]  # each restart is visible
    assert all("_iter" in s["resumed_from"] for s in starts[1:])  # from where it stopped
    steps = [e["step"] for e in log if e["event"] == ev.TRAIN]
    assert steps == sorted(set(steps))
    reference_log = ev.read_events(tmp_path / "a" / "events.jsonl")
    per_epoch = [[(e["loss"], e["clips"]) for e in events if e["event"] == ev.EPOCH]
                 for events in (log, reference_log)]  # fmt: skip
    assert per_epoch[0] == per_epoch[1]  # an interrupted epoch still reports all its iterations


def test_finished_run_is_not_trained_again(tiny_config, tmp_path):
    cfg = tiny_config()
    first = train(cfg, tmp_path / "run", progress=False)
    size = (tmp_path / "run" / "events.jsonl").stat().st_size
    assert train(cfg, tmp_path / "run", progress=False) == json.loads(
        (tmp_path / "run" / "summary.json").read_text()
    ) == first  # fmt: skip
    assert (tmp_path / "run" / "events.jsonl").stat().st_size == size


class StopAt:
    """``stop_requested`` for train(): True from the ``after``-th call of ``module.name`` on."""

    def __init__(self, monkeypatch, module, name: str, after: int = 1) -> None:
        self.armed, original, calls = False, getattr(module, name), []

        def hook(*args, **kwargs):
            calls.append(name)
            self.armed = self.armed or len(calls) >= after
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, hook)

    def __call__(self) -> bool:
        return self.armed


def test_a_stop_anywhere_resumes_to_identical_results(tiny_config, tmp_path, monkeypatch):
    """Asked to stop while the frame cache is built, while FLOPs are counted, in precise BN, in
    an evaluation and in the final test, one after the other: every attempt hands back, and
    the run ends exactly as an uninterrupted one, with every epoch logged once."""
    import replication.data.frames as frames
    import replication.engine.epoch_end as epoch_end
    import replication.engine.loop as loop
    import replication.engine.setup as setup

    reference = train(tiny_config(), tmp_path / "reference", progress=False)
    cfg = tiny_config(f"data.cache_dir={tmp_path / 'fresh_cache'}")  # the first try builds it
    points = [
        (frames, "read_video", 5),  # the 5th video decoded into the cache
        (setup, "clip_gflops", 2),  # the 2nd shape's FLOPs
        (epoch_end, "precise_bn", 1),  # the first precise-BN pass
        (epoch_end, "evaluate", 2),  # the second evaluation during training
        (loop, "final_test", 1),  # the final multi-view test
    ]
    run = tmp_path / "run"
    for module, name, after in points:
        with monkeypatch.context() as patch:
            stop = StopAt(patch, module, name, after)
            assert train(cfg, run, stop_requested=stop, progress=False) is None, name
            assert stop.armed, name
    resumed = train(cfg, run, progress=False)
    assert resumed["metrics"] == reference["metrics"] and resumed["steps"] == reference["steps"]
    log, reference_log = (ev.read_events(p / "events.jsonl") for p in (run, tmp_path / "reference"))
    epochs = [e["epoch"] for e in log if e["event"] == ev.EPOCH]
    assert epochs == list(range(build_schedule(cfg).max_epoch))  # each epoch once
    for kind, fields in ((ev.TRAIN, ("step", "loss")), (ev.EPOCH, ("loss", "clips"))):
        mine, theirs = ([[e[f] for f in fields] for e in x if e["event"] == kind]
                        for x in (log, reference_log))  # fmt: skip
        assert mine == theirs, kind
    starts = [e for e in log if e["event"] == ev.RUN_START]
    assert len(starts) == 5  # the first attempt stopped before opening the log


def test_an_unreadable_newest_checkpoint_is_named_and_the_one_before_used(
    tiny_config, tmp_path, capsys
):
    cfg = tiny_config()
    reference = train(cfg, tmp_path / "reference", progress=False)
    run = tmp_path / "run"
    for stop_at in (3, 9):  # two mid-epoch checkpoints
        calls = iter(range(10**6))
        assert train(cfg, run, should_stop=lambda c=calls, n=stop_at: next(c) == n,
                     progress=False) is None  # fmt: skip
    newest = RunPaths(run).latest_checkpoint()
    newest.write_bytes(b"not a checkpoint")
    resumed = train(cfg, run, progress=False)
    assert f"warning: {newest}: unreadable checkpoint, skipped" in capsys.readouterr().err
    assert resumed["metrics"] == reference["metrics"] and resumed["steps"] == reference["steps"]
    epochs = [e["epoch"] for e in ev.read_events(run / "events.jsonl") if e["event"] == ev.EPOCH]
    assert epochs == list(range(build_schedule(cfg).max_epoch))


def test_a_kill_while_a_checkpoint_is_written_leaves_the_previous_one(
    tiny_config, tmp_path, monkeypatch
):
    """A writer killed mid-checkpoint (here: torch.save interrupted, and a torn temporary as a
    SIGKILL leaves it): the previous checkpoint stays whole and the run resumes from it."""
    import replication.engine.checkpoint as checkpoint

    cfg = tiny_config()
    reference = train(cfg, tmp_path / "reference", progress=False)
    run = tmp_path / "run"
    calls = iter(range(10**6))
    assert train(cfg, run, should_stop=lambda: next(calls) == 3, progress=False) is None
    paths = RunPaths(run)
    (first,) = paths.checkpoints_newest_first()
    saved = first.read_bytes()
    save = checkpoint.torch.save

    def killed(state, path):
        save(state, path)
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # torn
        raise KeyboardInterrupt  # the kill

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.torch, "save", killed)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run, progress=False)  # dies at its next checkpoint
    assert paths.checkpoints_newest_first() == [first] and first.read_bytes() == saved
    (paths.checkpoints / f".{first.name}.4242.tmp").write_bytes(b"torn")  # what SIGKILL leaves
    resumed = train(cfg, run, progress=False)
    assert resumed["metrics"] == reference["metrics"] and resumed["steps"] == reference["steps"]


def test_a_random_long_cycle_order_trains_its_shapes_in_that_order(tiny_config, tmp_path):
    """The random-order ablation reaches the engine: phases run in the schedule's order."""
    cfg = tiny_config("multigrid.long_cycle_order=random", "multigrid.order_seed=3",
                      "solver.steps=[0,4]", "solver.max_epoch=6")  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    log = ev.read_events(tmp_path / "run" / "events.jsonl")
    ran = [(e["num_frames"], e["crop_size"]) for e in log if e["event"] == ev.PHASE]
    planned = [(p.num_frames, p.crop_size) for p in build_schedule(cfg).long_cycle
               if p.end_epoch > p.start_epoch]  # fmt: skip
    assert ran == planned
    ordered = build_schedule(tiny_config("solver.steps=[0,4]", "solver.max_epoch=6"))
    assert planned != [(p.num_frames, p.crop_size) for p in ordered.long_cycle
                       if p.end_epoch > p.start_epoch]  # fmt: skip


def test_a_frame_cache_build_is_left_out_of_the_job_clock(tiny_config, tmp_path, monkeypatch):
    """The run that builds the data set's frame cache reports the build (``cache_s``) and leaves
    it out of its job clock; the next run reuses the cache and reports none."""
    decode = frames.read_video

    def slow_decode(*args, **kwargs):
        time.sleep(0.02)  # 84 videos: at least 1.7 s of building
        return decode(*args, **kwargs)

    monkeypatch.setattr(frames, "read_video", slow_decode)
    cfg = tiny_config(f"data.cache_dir={tmp_path / 'cache'}")
    began = time.perf_counter()
    train(cfg, tmp_path / "first", progress=False)
    elapsed = time.perf_counter() - began
    cache_s = ev.read_events(tmp_path / "first" / "events.jsonl")[0]["cache_s"]
    assert cache_s >= 0.02 * CLASSES * (TRAIN_PER_CLASS + VAL_PER_CLASS)
    total_s = json.loads((tmp_path / "first" / "summary.json").read_text())["total_s"]
    assert total_s <= elapsed - cache_s
    train(cfg, tmp_path / "second", progress=False)
    assert ev.read_events(tmp_path / "second" / "events.jsonl")[0]["cache_s"] == 0.0
