"""Curve points through collect, the tables and the figures: time to accuracy, worked by hand.

The fixture plan's committed runs predate curve points; here a copy of them gets ``curve``
events with chosen numbers, so every expected value below is worked out in the comments.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from shared import PLAN_FILE, ROOT, RUNS

from replication.io import events as ev
from replication.results.collect import TABLES, collect
from replication.results.figures import build_figures
from replication.results.frames import plan_frames
from replication.results.query import Results
from replication.results.tables import build_tables
from replication.results.tidy import read_rows
from replication.results.time_to_accuracy import TARGET_PERCENT, Reach, first_reaching, reach
from replication.workflow import read_plan

# (fraction, top1, train_s, total_s, eval_s) of each run's curve points; bn_base_4-s0 has none.
# Round numbers chosen for the arithmetic, not the runs' own clocks (their loops took ~5 s).
POINTS = {
    "baseline-s0": [
        (0.25, 40.0, 10.0, 15.0, 0.1),
        (0.5, 70.0, 20.0, 27.0, 0.1),
        (0.75, 95.0, 30.0, 39.0, 0.1),  # first at or above the target (94.05): 30 s, 39 s
        (1.0, 96.0, 40.0, 51.0, 0.1),
    ],
    "baseline-s1": [
        (0.25, 50.0, 12.0, 16.0, 0.15),
        (0.5, 94.5, 24.0, 30.0, 0.15),  # first reaching it: 24 s, 30 s (it dips below after)
        (0.75, 93.0, 36.0, 44.0, 0.15),
        (1.0, 94.0, 48.0, 58.0, 0.15),
    ],
    "long_short-s0": [
        (0.25, 94.5, 4.0, 6.0, 0.05),  # reaches it at its first point: 4 s, 6 s
        (0.31, 97.0, 9.0, 12.0, 0.05),  # the run's end
    ],
    "long_short-s1": [(0.25, 80.0, 5.0, 7.0, 0.05), (0.31, 90.0, 10.0, 13.0, 0.05)],  # never
    "baseline_e2-s0": [(0.25, 30.0, 10.0, 12.0, 0.1), (0.5, 50.0, 20.0, 24.0, 0.1)],  # never
}
# The baseline's final curve top-1 is the mean of its seeds' last points, (96 + 94) / 2 = 95.
TARGET = 0.99 * 95.0
TIMES = "\u00d7"


def _add_curve_points(runs_root):
    """Append the ``POINTS`` of each run as ``curve`` events to its copied event log."""
    for run_id, points in POINTS.items():
        log = runs_root / "fixture" / "tiny" / run_id / "events.jsonl"
        with open(log, "a", encoding="utf-8") as f:
            for number, (fraction, top1, train_s, total_s, eval_s) in enumerate(points, 1):
                event = {"event": ev.CURVE, "time_s": 1.0, "epoch": number, "iteration": 1,
                         "step": 10 * number, "fraction": fraction,
                         "metrics": {"top1": top1, "top5": 100.0, "videos": 32, "invalid": 0},
                         "train_s": train_s, "total_s": total_s, "eval_s": eval_s}  # fmt: skip
                assert ev.REQUIRED[ev.CURVE] <= event.keys()
                f.write(json.dumps(event) + "\n")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture
def curved(fixture_runs_copy, tmp_path):
    """The fixture runs with curve points, collected: (plan, results folder, runs root)."""
    _add_curve_points(fixture_runs_copy)
    plan = read_plan(PLAN_FILE)
    collect(plan, fixture_runs_copy).write(tmp_path / "results")
    return plan, tmp_path / "results", fixture_runs_copy


def _summary(runs_root, run_id):
    return json.loads((runs_root / "fixture" / "tiny" / run_id / "summary.json").read_text())


def test_target_is_the_stated_share_of_the_baselines_final_curve_accuracy():
    assert TARGET_PERCENT == 99
    assert pytest.approx(94.05) == TARGET


def test_first_point_reaching_the_target_not_interpolated():
    rows = [{"top1": v, "train_s": t} for v, t in ((50.0, 1.0), (94.5, 2.0), (93.0, 3.0))]
    assert first_reaching(rows, "top1", TARGET)["train_s"] == 2.0
    assert first_reaching(rows, "top1", 95.0) is None
    assert first_reaching([{"top1": None, "train_s": 1.0}], "top1", 0.0) is None


def test_curve_points_become_eval_rows_and_their_cost_leaves_total_time(curved):
    _, results, runs_root = curved
    evals = read_rows(results / "evals.csv", TABLES["evals"])
    points = [e for e in evals if e["kind"] == "curve"]
    assert len(points) == sum(len(p) for p in POINTS.values())
    first = next(e for e in points if e["run_id"] == "tiny/baseline-s1")
    assert (first["fraction"], first["top1"], first["train_s"], first["total_s"]) == (
        0.25, 50.0, 12.0, 16.0)  # fmt: skip
    assert first["eval_s"] == 0.15 and first["iteration"] == 1 and first["git_sha"]
    assert {e["kind"] for e in evals} == {"train", "curve", "final"}
    runs = {r["run_id"]: r for r in read_rows(results / "runs.csv", TABLES["runs"])}
    # Older logs: the job clock is the summary's wall_s; the curve evaluations come off it.
    for run_id, cost, count in (("baseline-s0", 0.4, 4), ("baseline-s1", 0.6, 4),
                                ("long_short-s0", 0.1, 2), ("baseline_e2-s0", 0.2, 2)):  # fmt: skip
        row = runs[f"tiny/{run_id}"]
        assert row["curve_points"] == count and row["curve_s"] == pytest.approx(cost)
        wall_s = _summary(runs_root, run_id)["wall_s"]  # CSVs keep 6 significant digits
        assert row["total_s"] == pytest.approx(wall_s - cost, rel=1e-5)
    untouched = runs["tiny/bn_base_4-s0"]  # no curve events: as before
    assert untouched["curve_points"] == 0 and untouched["curve_s"] is None
    assert untouched["total_s"] == pytest.approx(_summary(runs_root, "bn_base_4-s0")["wall_s"])


def test_time_to_accuracy_from_the_fixture_log(curved):
    plan, results, _ = curved
    res = Results(plan, results)
    assert res.curve_target("tiny") == pytest.approx(TARGET)
    # Baseline: both seeds reach it, at 30 s and 24 s of loop (39 s and 30 s of job clock).
    assert res.reach("tiny", "baseline") == Reach(2, 2, 27.0, 34.5)
    # Long + short: seed 0 at its first point (4 s, 6 s); seed 1 never.
    assert res.reach("tiny", "long_short") == Reach(2, 1, 4.0, 6.0)
    assert res.reach_speedups("tiny", "long_short") == (27.0 / 4.0, 34.5 / 6.0)
    assert res.reach("tiny", "baseline_e2") == Reach(1, 0, None, None)
    assert res.reach_speedups("tiny", "baseline_e2") == (None, None)
    assert res.reach("tiny", "bn_base_4") is None  # no curve points
    evals = read_rows(results / "evals.csv", TABLES["evals"])
    assert reach(evals, "tiny", "long_short", "top1", 97.0) == Reach(2, 1, 9.0, 12.0)


def test_main_table_columns_and_the_curve_cost_note(curved):
    plan, results, runs_root = curved
    res = Results(plan, results)
    table = next(t for t in build_tables(res) if t.id == "tiny_main")
    rows = {row[0]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    time, train, total = ("Time to 99 % of baseline (s)", "Speedup to 99 % train",
                          "Speedup to 99 % total")  # fmt: skip
    assert rows["baseline"][time] == "27.0" and rows["baseline"][train] == f"1.00{TIMES}"
    assert rows["long + short cycle"][time] == "4.0 (1 of 2)"
    assert rows["long + short cycle"][train] == f"6.75{TIMES}"  # 27 / 4
    assert rows["long + short cycle"][total] == f"5.75{TIMES}"  # 34.5 / 6
    assert rows["baseline, 2 epochs"][time] == "not reached"
    assert rows["baseline, 2 epochs"][train] == rows["baseline, 2 epochs"][total] == "\u2013"
    assert "first curve point" in table.caption and "no interpolation" in table.caption
    assert "curve evaluations left out" in table.caption
    # Total time leaves the curve evaluations out: (wall - 0.4 + wall - 0.6) / 2 for the baseline.
    walls = [_summary(runs_root, f"baseline-s{s}")["wall_s"] for s in (0, 1)]
    assert rows["baseline"]["Total time (s)"] == f"{(sum(walls) - 1.0) / 2:,.1f}"
    ls_walls = [_summary(runs_root, "long_short-s0")["wall_s"] - 0.1,
                _summary(runs_root, "long_short-s1")["wall_s"] - 0.1]  # fmt: skip
    speedup = (sum(walls) - 1.0) / sum(ls_walls)
    assert rows["long + short cycle"]["Speedup total"] == f"{speedup:.2f}{TIMES}"
    (note,) = [n for n in table.notes if n.startswith("Curve evaluations")]
    assert note.endswith(
        "baseline 4 points, 0.5 s; long + short cycle 2 points, 0.1 s; "
        "baseline, 2 epochs 2 points, 0.2 s."
    )


def test_runs_without_curve_points_show_dashes_and_no_note(tmp_path):
    collect(read_plan(PLAN_FILE), RUNS).write(tmp_path)
    res = Results(read_plan(PLAN_FILE), tmp_path)
    table = next(t for t in build_tables(res) if t.id == "tiny_main")
    assert all(set(row[-3:]) == {"\u2013"} for row in table.rows)
    assert not any(n.startswith("Curve evaluations") for n in table.notes)
    assert all(r["curve_points"] == 0 and r["curve_s"] is None for r in res.runs)


def test_curve_frames_and_figure(curved, tmp_path):
    plan, results, _ = curved
    (frames,) = plan_frames(plan, results)
    assert frames.target == pytest.approx(TARGET)
    assert set(frames.curves["label"]) == {"baseline", "long + short cycle", "baseline, 2 epochs"}
    reach_frame = frames.time_to_target.set_index("variant")
    assert list(reach_frame.index) == ["baseline", "long_short", "baseline_e2"]
    assert reach_frame.loc["long_short", ["seeds", "reached", "time", "speedup"]].tolist() == [
        2, 1, 4.0, 6.75]  # fmt: skip
    assert pd.isna(reach_frame.loc["baseline_e2", "time"])
    made = build_figures(plan, results, tmp_path / "figures")
    figure = next(f for f in made if f.id == "tiny_accuracy_curves")
    assert "99 %" in figure.caption and "no interpolation" in figure.caption
    assert (tmp_path / "figures" / "tiny_accuracy_curves.png").stat().st_size > 1000
