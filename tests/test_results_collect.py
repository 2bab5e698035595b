from __future__ import annotations

import json

import pytest
from shared import PLAN_FILE, ROOT, RUNS

from replication.results.collect import (
    ADDED_COLUMNS,
    FINISHED,
    NOT_RUN,
    TABLES,
    CollectError,
    collect,
)
from replication.results.tidy import read_rows, to_csv
from replication.workflow import read_plan


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def plan():
    return read_plan(PLAN_FILE)


def test_collect_writes_one_row_per_run_and_eval(plan, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    collected = collect(plan, RUNS)
    paths = collected.write(tmp_path)
    assert sorted(p.name for p in paths) == ["epochs.csv", "evals.csv", "grids.csv", "runs.csv"]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    runs = read_rows(tmp_path / "runs.csv", TABLES["runs"])
    assert [r["run_id"] for r in runs] == [
        "tiny/baseline-s0",
        "tiny/baseline-s1",
        "tiny/long_short-s0",
        "tiny/long_short-s1",
        "tiny/bn_base_4-s0",
        "tiny/baseline_e2-s0",
    ]
    for row in runs:
        summary = json.loads((RUNS / "fixture" / row["run_id"] / "summary.json").read_text())
        assert row["top1"] == pytest.approx(summary["metrics"]["top1"], abs=1e-4)
        assert row["iterations"] == summary["steps"]
        assert row["git_sha"] and row["config_hash"] and row["device"].startswith("CPU")
        assert row["train_s"] > 0 and row["device_kind"] == "CPU"
    evals = read_rows(tmp_path / "evals.csv", TABLES["evals"])
    finals = [e for e in evals if e["kind"] == "final"]
    assert len(finals) == len(runs)
    assert all(e["git_sha"] and e["config_hash"] for e in evals)
    grids = read_rows(tmp_path / "grids.csv", TABLES["grids"])
    shapes = {(g["num_frames"], g["crop_size"]) for g in grids if g["variant"] == "long_short"}
    assert len(shapes) > 1  # multigrid trains on several grids
    assert all(0 <= g["data_share"] <= 1 for g in grids)


def test_missing_runs_are_not_run_rows_and_listed(plan, fixture_runs_copy, capsys):
    runs = fixture_runs_copy
    (runs / "fixture/tiny/long_short-s1/summary.json").unlink()
    (runs / "fixture/tiny/bn_base_4-s0/summary.json").unlink()
    collected = collect(plan, runs)
    message = capsys.readouterr().err
    assert "2 of 6 runs" in message and message.count("\n") == 1
    assert "tiny/long_short-s1" in message and "tiny/bn_base_4-s0" in message
    status = {r["run_id"]: r["status"] for r in collected.runs}
    assert list(status) == [r["run_id"] for r in collect(plan, RUNS).runs]  # plan order
    assert status["tiny/long_short-s1"] == status["tiny/bn_base_4-s0"] == NOT_RUN
    assert sum(s == FINISHED for s in status.values()) == 4
    assert {r["run_id"] for r in collected.evals} == {k for k, s in status.items() if s == FINISHED}


def test_total_time_falls_back_to_wall_s_for_older_logs(plan):
    """The committed runs predate the job clock: total is their summary's wall_s, and says so;
    of the parts outside the loop, their events tell the evaluations' time only."""
    for row in collect(plan, RUNS).runs:
        summary = json.loads((RUNS / "fixture" / row["run_id"] / "summary.json").read_text())
        assert "total_s" not in summary
        assert row["total_s"] == summary["wall_s"] and row["total_from"] == "training clock"
        assert row["setup_s"] is None and row["test_s"] is None and row["stats_s"] is None
        assert row["eval_s"] > 0  # from the times its epoch and eval events were written
        assert row["train_s"] + row["eval_s"] < row["total_s"]


def test_older_results_files_read_with_new_columns_empty(plan, tmp_path):
    collect(plan, RUNS).write(tmp_path)
    runs_csv = tmp_path / "runs.csv"
    old_columns = [c for c in TABLES["runs"] if c not in ADDED_COLUMNS]
    rows = read_rows(runs_csv, TABLES["runs"])
    runs_csv.write_text(to_csv(rows, old_columns))
    with pytest.raises(ValueError, match="missing columns"):
        read_rows(runs_csv, TABLES["runs"])
    again = read_rows(runs_csv, TABLES["runs"], ADDED_COLUMNS)
    assert [r["train_s"] for r in again] == [r["train_s"] for r in rows]
    assert all(r["total_s"] is None and r["status"] is None for r in again)


def test_torn_last_line_is_tolerated(plan, fixture_runs_copy):
    runs = fixture_runs_copy
    log = runs / "fixture/tiny/baseline-s0/events.jsonl"
    with open(log, "a") as f:
        f.write('{"event": "train", "time_s": 1.0, "epo')  # a writer killed mid-line
    torn = collect(plan, runs)
    clean = collect(plan, RUNS)
    assert torn.runs == clean.runs and torn.evals == clean.evals


def test_stale_run_is_an_error(plan, fixture_runs_copy):
    runs = fixture_runs_copy
    path = runs / "fixture/tiny/baseline-s1/config.json"
    config = json.loads(path.read_text())
    config["solver"]["base_lr"] = 0.5
    path.write_text(json.dumps(config))
    with pytest.raises(CollectError, match=r"tiny/baseline-s1 \(solver.base_lr: ran 0.5"):
        collect(plan, runs)
