"""The training-length sweep table, its crossover verdict and figure, on hand-made numbers.

Each test writes a plan with two sweep lines and a ``runs.csv`` of chosen loop times and top-1s
(no training), so every interpolated value and difference below is worked out in the comments.
The baseline's line is (15, 30, 60 epochs) at (10, 20, 40 s) of training loop with seed means
(60, 70, 80) % top-1; between 10 s and 20 s it rises 1 point a second, between 20 s and 40 s
half a point a second.
"""

from __future__ import annotations

import pytest
from shared import PLAN_FILE, ROOT, RUNS

from replication.results.collect import TABLES, collect
from replication.results.query import Results
from replication.results.stats import difference_ci
from replication.results.sweep import (
    compare,
    interpolation,
    reference_line,
    sweep_points,
    sweep_table,
    verdict,
)
from replication.results.tables import build_tables, write_tables
from replication.results.tidy import write_rows
from replication.workflow import Plan, read_plan

STEPS = {15: "[0, 10, 13]", 30: "[0, 20, 26]", 60: "[0, 40, 52]", 120: "[0, 80, 104]"}
LS = "long + short cycle"
# (epochs, loop seconds, top-1 of each seed); seeds spread +-1 around the mean
BASELINE = [(15, 10.0, [59.0, 60.0, 61.0]), (30, 20.0, [69.0, 70.0, 71.0]),
            (60, 40.0, [79.0, 80.0, 81.0])]  # fmt: skip


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # run configs are paths relative to the repository


def _plan(lines: dict[str, list]) -> Plan:
    variants = []
    for number, (line, points) in enumerate(lines.items()):
        slug = "ls" if number else "b"  # the first line holds the variant 'baseline' (30 epochs)
        for epochs, *_ in points:
            name = "baseline" if (slug, epochs) == ("b", 30) else f"{slug}_e{epochs}"
            sets = [f"solver.max_epoch={epochs}", f"solver.steps={STEPS[epochs]}"]
            variants.append({"name": name, "label": f"{line}, {epochs} epochs", "sweep": line,
                             "set": sets})  # fmt: skip
    experiment = {"id": "sw", "title": "Sweep", "dataset": "d", "variants": variants,
                  "config": "tests/fixtures/configs/smoke_baseline.yaml"}  # fmt: skip
    dataset = {"train_annotations": "x/train.csv", "val_annotations": "x/val.csv"}
    return Plan.model_validate({"name": "sw", "seeds": [0, 1, 2], "bootstrap_resamples": 1000,
                                "datasets": {"d": dataset}, "experiments": [experiment]})  # fmt: skip


def _results(tmp_path, lines: dict[str, list]) -> Results:
    """A plan of ``lines`` and its runs.csv: (epochs, loop s, top-1 per seed); no seeds: not run."""
    plan, rows = _plan(lines), []
    names = iter(v for v in plan.experiments[0].variants)
    for points in lines.values():
        for _, train_s, top1s in points:
            variant = next(names)
            for seed in range(3):
                keys = {"plan": "sw", "experiment": "sw", "variant": variant.name,
                        "label": variant.label, "group": "main", "seed": seed,
                        "run_id": f"sw/{variant.name}-s{seed}"}  # fmt: skip
                if seed >= len(top1s):
                    rows.append({**keys, "status": "not run"})
                    continue
                epochs = int(variant.set[0].split("=")[1])
                rows.append({**keys, "status": "finished", "epochs": epochs,
                             "iterations": 10 * epochs, "train_s": train_s,
                             "total_s": train_s + 5.0, "total_from": "process start",
                             "train_gflops": 2.0 * epochs, "device_kind": "CPU",
                             "num_devices": 1, "device_hours": train_s / 3600,
                             "clips_per_epoch": 64, "top1": top1s[seed],
                             "device": "CPU test", "git_sha": "0123456789ab",
                             "config_hash": "c0ffee"})  # fmt: skip
    write_rows(tmp_path / "runs.csv", rows, list(TABLES["runs"]))
    for name in ("evals", "epochs", "grids"):
        write_rows(tmp_path / f"{name}.csv", [], list(TABLES[name]))
    return Results(plan, tmp_path)


def _table(res: Results):
    table = sweep_table(res, res.plan.experiments[0])
    return table, [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def _verdict(res: Results) -> str:
    points = sweep_points(res, res.plan.experiments[0])
    return verdict(LS, "baseline", compare(points, "baseline", resamples=1000))


# --------------------------------------------------------------------------- pieces


def test_interpolation_weights_between_neighbours_and_none_outside():
    assert interpolation([10.0, 20.0, 40.0], 12.0) == [(0, pytest.approx(0.8)),
                                                       (1, pytest.approx(0.2))]  # fmt: skip
    assert interpolation([10.0, 20.0, 40.0], 40.0) == [(2, 1.0)]
    assert interpolation([10.0, 20.0, 40.0], 9.99) is None
    assert interpolation([10.0, 20.0, 40.0], 40.01) is None
    assert interpolation([], 1.0) is None


def test_difference_ci_resamples_both_sides_and_collapses_with_one_seed():
    # 75 - (0.8 * 60 + 0.2 * 70) = 13
    est = difference_ci([74.0, 75.0, 76.0], [(0.8, [59.0, 60.0, 61.0]), (0.2, [69.0, 70.0, 71.0])])
    assert est.mean == pytest.approx(13.0) and est.n == 3
    assert 11.0 < est.low < 13.0 < est.high < 15.0
    # the reference's spread alone widens the interval
    only_ref = difference_ci([75.0, 75.0, 75.0], [(1.0, [59.0, 60.0, 61.0])])
    assert only_ref.low < 15.0 < only_ref.high
    assert difference_ci([75.0], [(1.0, [59.0, 60.0, 61.0])]).low == 15.0
    assert est == difference_ci([74.0, 75.0, 76.0],
                                [(0.8, [59.0, 60.0, 61.0]), (0.2, [69.0, 70.0, 71.0])])  # fmt: skip


def test_reference_is_the_line_named_baseline_else_the_one_holding_the_baseline(tmp_path):
    res = _results(tmp_path, {"baseline": BASELINE, LS: [(30, 16.0, [68.0])]})
    assert reference_line(sweep_points(res, res.plan.experiments[0])) == "baseline"
    res = _results(tmp_path, {"plain": BASELINE, LS: [(30, 16.0, [68.0])]})
    points = sweep_points(res, res.plan.experiments[0])
    assert [p.variant for p in points if p.line == "plain"] == ["b_e15", "baseline", "b_e60"]
    assert reference_line(points) == "plain"


# --------------------------------------------------------------------------- verdicts


def test_a_line_entirely_above(tmp_path):
    # at 12 s the baseline's line is 0.8 * 60 + 0.2 * 70 = 62; at 16 s 66; at 30 s 75
    res = _results(tmp_path, {"baseline": BASELINE, LS: [
        (15, 12.0, [74.0, 75.0, 76.0]), (30, 16.0, [77.0, 78.0, 79.0]),
        (60, 30.0, [84.0, 85.0, 86.0])]})  # fmt: skip
    table, rows = _table(res)
    assert table.id == "sw_sweep"
    ls = [r for r in rows if r["Line"] == LS]
    assert [r["Epochs"] for r in ls] == ["15", "30", "60"]
    assert [r["baseline's line at equal train time"] for r in ls] == ["62.0", "66.0", "75.0"]
    assert [r["Δ Top-1 vs baseline's line"][:5] for r in ls] == ["+13.0", "+12.0", "+10.0"]
    assert ls[0]["Top-1 (%)"] == "75.0 ± 1.0" and ls[0]["Runs"] == "3"
    assert ls[0]["Train time (s)"] == "12.0" and ls[0]["Total time (s)"] == "17.0"
    base = [r for r in rows if r["Line"] == "baseline"]
    assert [r["Epochs"] for r in base] == ["15", "30", "60"]
    assert {r["Δ Top-1 vs baseline's line"] for r in base} == {"\u2013"}
    assert table.notes[0] == (
        "long + short cycle is above the baseline's line at every length compared (15, 30 and "
        "60 epochs): no crossover; compared at equal training-loop time, the difference's 95 % "
        "CI leaves out 0 at every length."
    )


def test_a_line_entirely_below(tmp_path):
    res = _results(tmp_path, {"baseline": BASELINE, LS: [
        (15, 12.0, [50.0, 51.0, 52.0]), (30, 16.0, [61.0, 62.0, 63.0])]})  # fmt: skip
    assert _verdict(res) == (
        "long + short cycle stays below the baseline's line at every length compared (15 and "
        "30 epochs): no crossover; compared at equal training-loop time, the difference's 95 % "
        "CI leaves out 0 at every length."
    )


def test_a_crossover_between_two_lengths(tmp_path):
    # 55 against 62 (below), 68 against 66 (above), 80 against 75 (above)
    res = _results(tmp_path, {"baseline": BASELINE, LS: [
        (15, 12.0, [54.0, 55.0, 56.0]), (30, 16.0, [67.0, 68.0, 69.0]),
        (60, 30.0, [79.0, 80.0, 81.0])]})  # fmt: skip
    comparisons = compare(sweep_points(res, res.plan.experiments[0]), "baseline", resamples=1000)
    assert [c.difference.mean for c in comparisons] == pytest.approx([-7.0, 2.0, 5.0])
    assert _verdict(res).startswith(
        "long + short cycle is above the baseline's line at 30 and 60 epochs, below at 15 epochs "
        "(crossover between 15 and 30 epochs of long + short cycle, rising above); compared at "
        "equal training-loop time"
    )


def test_overlapping_seeds_say_the_ci_includes_zero(tmp_path):
    # 64 +- 4 against 66 at 16 s: below, but the seeds straddle the reference
    res = _results(tmp_path, {"baseline": BASELINE, LS: [(30, 16.0, [60.0, 64.0, 68.0])]})
    assert _verdict(res).endswith("the difference's 95 % CI includes 0 at every length.")
    res = _results(tmp_path, {"baseline": BASELINE, LS: [(30, 16.0, [64.0])]})
    assert _verdict(res).endswith("no CI of the difference (one seed on a side).")


def test_points_outside_the_references_range_are_said_to_be(tmp_path):
    # 5 s is before the baseline's shortest run (10 s), 50 s after its longest (40 s)
    res = _results(tmp_path, {"baseline": BASELINE, LS: [
        (15, 5.0, [64.0, 65.0, 66.0]), (30, 16.0, [70.0, 71.0, 72.0]),
        (120, 50.0, [90.0, 91.0, 92.0])]})  # fmt: skip
    _, rows = _table(res)
    ls = {r["Epochs"]: r for r in rows if r["Line"] == LS}
    assert ls["15"]["baseline's line at equal train time"] == "outside the baseline's range"
    assert ls["120"]["baseline's line at equal train time"] == "outside the baseline's range"
    assert ls["15"]["Δ Top-1 vs baseline's line"] == "\u2013"
    assert ls["30"]["baseline's line at equal train time"] == "66.0"
    text = _verdict(res)
    assert text.startswith("long + short cycle is above the baseline's line at every length "
                           "compared (30 epochs): no crossover")  # fmt: skip
    assert text.endswith(" Outside the baseline's range: 15 and 120 epochs.")
    res = _results(tmp_path, {"baseline": BASELINE, LS: [(120, 50.0, [91.0])]})
    assert _verdict(res) == (
        "long + short cycle: no length within the baseline's range of training-loop time. "
        "Outside the baseline's range: 120 epochs."
    )


def test_lengths_not_run_read_not_run_and_are_left_out_of_the_comparison(tmp_path):
    res = _results(tmp_path, {"baseline": BASELINE, LS: [
        (30, 16.0, [67.0, 68.0, 69.0]), (60, 30.0, [80.0]), (120, 50.0, [])]})  # fmt: skip
    table, rows = _table(res)
    ls = {r["Epochs"]: r for r in rows if r["Line"] == LS}
    assert ls["120"]["Runs"] == "not run" and ls["60"]["Runs"] == "1 of 3"
    assert ls["60"]["Δ Top-1 vs baseline's line"] == "+5.0"  # one seed: no interval
    assert "(30 and 60 epochs)" in table.notes[0]
    assert any(n.startswith("Not run") and "sw/ls_e120-s0" in n for n in table.notes)
    res = _results(tmp_path, {"baseline": BASELINE, LS: [(30, 16.0, []), (60, 30.0, [])]})
    assert _table(res)[0].notes[0] == (
        "long + short cycle: no length measured (no finished run), so not compared."
    )


# --------------------------------------------------------------------------- outputs


def _with_curves(res: Results, tmp_path) -> Results:
    """Curve points for the longest run of each line: (fraction, loop s, top-1) per seed."""
    rows = []
    for variant, times in (("b_e60", (20.0, 40.0)), ("ls_e60", (10.0, 30.0))):
        for seed in range(3):
            for fraction, train_s, top1 in ((0.5, times[0], 50.0), (1.0, times[1], 78.0 + seed)):
                rows.append({"plan": "sw", "experiment": "sw", "variant": variant, "seed": seed,
                             "kind": "curve", "fraction": fraction, "train_s": train_s,
                             "top1": top1, "label": variant, "group": "main"})  # fmt: skip
    write_rows(tmp_path / "evals.csv", rows, list(TABLES["evals"]))
    return Results(res.plan, tmp_path)


def test_figure_and_frame_hold_the_tables_numbers(tmp_path):
    import matplotlib.pyplot as plt

    from replication.results.figures import length_sweep
    from replication.results.frames import COLUMNS, experiment_frames

    res = _results(tmp_path, {"baseline": BASELINE, LS: [
        (15, 12.0, [54.0, 55.0, 56.0]), (30, 16.0, [67.0, 68.0, 69.0]),
        (60, 30.0, [79.0, 80.0, 81.0]), (120, 50.0, [])]})  # fmt: skip
    res = _with_curves(res, tmp_path)
    frames = experiment_frames(res, res.plan.experiments[0])
    lengths = frames.lengths
    assert tuple(lengths.columns) == COLUMNS["lengths"]
    assert list(lengths["line"]) == ["baseline"] * 3 + [LS] * 3  # 120 epochs has not run
    assert list(lengths["epochs"]) == [15, 30, 60, 15, 30, 60]
    assert list(lengths["time"]) == [10.0, 20.0, 40.0, 12.0, 16.0, 30.0]
    for row in lengths.to_dict("records"):
        est = res.estimate("sw", row["variant"], "top1")
        assert (row["mean"], row["low"], row["high"], row["n"]) == (est.mean, est.low, est.high, 3)
    fig, figure = length_sweep(frames, {})
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["15 ep", "30 ep", "60 ep"] * 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["baseline", LS, "baseline, 60 epochs: curve points",
                      "long + short cycle, 60 epochs: curve points"]  # fmt: skip
    assert figure.id == "sw_length_sweep" and "sw_sweep" in figure.caption
    assert "Faint lines" in figure.caption
    plt.close(fig)


def test_tables_are_written_with_the_sweep_table(tmp_path):
    res = _results(tmp_path, {"baseline": BASELINE, LS: [(30, 16.0, [67.0, 68.0, 69.0])]})
    tables = build_tables(res)
    assert [t.id for t in tables] == ["sw_main", "sw_sweep", "sw_throughput", "claims", "runs"]
    write_tables(tables, tmp_path / "tables", "t")
    markdown = (tmp_path / "tables" / "sw_sweep.md").read_text()
    assert "| long + short cycle | 30 | 3 | 16.0 | 21.0 | 68.0 ± 1.0 | 66.0 | +2.0 ± " in markdown
    assert "[Sweep: accuracy vs training length](sw_sweep.md)" in (
        tmp_path / "tables" / "README.md").read_text()  # fmt: skip


def test_plans_without_sweep_variants_get_no_sweep_table_or_figure(tmp_path):
    from replication.results.figures import length_sweep
    from replication.results.frames import plan_frames

    plan = read_plan(PLAN_FILE)
    collect(plan, RUNS).write(tmp_path)
    res = Results(plan, tmp_path)
    assert sweep_table(res, plan.experiments[0]) is None
    assert [t.id for t in build_tables(res)] == [
        "tiny_main", "tiny_ablations", "tiny_throughput", "claims", "runs"]  # fmt: skip
    (frames,) = plan_frames(plan, tmp_path)
    assert frames.lengths.empty and length_sweep(frames, {}) is None
