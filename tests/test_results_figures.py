from __future__ import annotations

import json
import os
from dataclasses import replace

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.axes import Axes
from shared import PLAN_FILE, ROOT, RUNS

from replication.results import plots
from replication.results.collect import collect
from replication.results.figures import ablation_figure, build_figures, training_curves
from replication.results.frames import COLUMNS, plan_frames
from replication.results.query import Results
from replication.results.report import write_report
from replication.workflow import read_plan


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The fixture plan's figures, drawn once for this module, and matplotlib's settings around."""
    tmp_path, here = tmp_path_factory.mktemp("built"), os.getcwd()
    os.chdir(ROOT)  # run configs are paths relative to the repository
    try:
        plan = read_plan(PLAN_FILE)
        collect(plan, RUNS).write(tmp_path / "results")
        rc = dict(mpl.rcParams)
        made = build_figures(plan, tmp_path / "results", tmp_path / "figures")
        return tmp_path, made, rc, dict(mpl.rcParams)
    finally:
        os.chdir(here)


def test_figures_and_report(built):
    tmp_path, made, _, _ = built
    plan = read_plan(PLAN_FILE)
    ids = {f.id for f in made}
    assert ids == {
        "tiny_accuracy_vs_time",
        "tiny_training_curves",
        "tiny_schedule",
        "tiny_ablations",
        "tiny_throughput",
    }
    for figure in made:
        for ext in ("png", "pdf"):
            path = tmp_path / "figures" / f"{figure.id}.{ext}"
            assert path.stat().st_size > 1000
        assert figure.caption
    index = json.loads((tmp_path / "figures" / "figures.json").read_text())
    assert [e["id"] for e in index] == [f.id for f in made]
    png = (tmp_path / "figures" / "tiny_schedule.png").read_bytes()
    build_figures(plan, tmp_path / "results", tmp_path / "again")
    assert (tmp_path / "again" / "tiny_schedule.png").read_bytes() == png  # deterministic

    write_report(plan, tmp_path / "results", tmp_path / "figures", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(made)
    assert "<figcaption>" in html and 'id="tiny_main"' in html and "\\toprule" not in html


# --------------------------------------------------------------------------- frames and plots


@pytest.fixture(scope="module")
def fixture_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    collect(read_plan(PLAN_FILE), RUNS).write(out)
    return out


@pytest.fixture(scope="module")
def tiny(fixture_results):
    (frames,) = plan_frames(read_plan(PLAN_FILE), fixture_results)
    return frames


def test_frames_have_the_documented_columns(tiny):
    for name, columns in COLUMNS.items():
        assert tuple(getattr(tiny, name).columns) == columns, name
    assert tiny.metric == "top1" and tiny.unit.name == "seconds"
    assert list(tiny.variants["variant"]) == ["baseline", "long_short", "bn_base_4", "baseline_e2"]
    assert tiny.labels("main") == ["baseline", "long + short cycle"]
    assert list(tiny.runs["seed"]) == [0, 1, 0, 1, 0, 0]


def test_frames_hold_the_tables_numbers(tiny, fixture_results):
    res = Results(read_plan(PLAN_FILE), fixture_results)
    est = tiny.estimates.set_index("variant")
    for variant in ("baseline", "long_short", "bn_base_4", "baseline_e2"):
        ours = res.estimate("tiny", variant, "top1")
        row = est.loc[variant]
        assert (row["mean"], row["low"], row["high"]) == (ours.mean, ours.low, ours.high)
        assert row["n"] == ours.n and row["speedup"] == res.speedups("tiny", variant)[0]
    assert list(est.index[est["sweep"]]) == ["baseline", "baseline_e2"]
    assert list(tiny.ablations["name"]) == ["long + short cycle (default)", "BN base size 4"]
    assert set(tiny.throughput["label"]) == set(tiny.schedule["label"]) == set(tiny.labels("main"))
    assert set(tiny.val_curves["label"]) == set(tiny.labels("main", "budget"))
    assert tiny.loss_curves["value"].notna().all()
    assert tiny.throughput["batch_size"].is_monotonic_decreasing


PALETTE = {"a": "tab:blue", "b": "tab:orange", "c": "tab:green"}
ESTIMATES = pd.DataFrame(
    {
        "variant": ["base", "mg", "base_e1"],
        "label": ["a", "b", "c"],
        "group": ["main", "main", "budget"],
        "seeds": [2, 2, 1],
        "n": [2, 2, 1],
        "time": [10.0, 4.0, 5.0],
        "mean": [70.0, 69.0, 60.0],
        "low": [68.0, 66.0, 60.0],
        "high": [72.0, 71.0, 60.0],
        "speedup": [1.0, 2.5, 2.0],
        "sweep": [True, False, True],
    }
)
RUNS_FRAME = pd.DataFrame(
    {
        "variant": ["base", "base", "mg", "mg", "base_e1"],
        "group": ["main", "main", "main", "main", "budget"],
        "time": [9.5, 10.5, 3.9, 4.1, 5.0],
        "value": [68.0, 72.0, 66.0, 71.0, 60.0],
    }
)
CURVES = pd.DataFrame(
    {"label": ["a", "a", "b", "b"], "time": [1.0, 2.0, 1.0, 1.5], "value": [2.0, 1.0, 2.5, 1.2]}
)
SCHEDULE = pd.DataFrame(
    {
        "grid": ["full size", "short-cycle grid 0", "full size", "short-cycle grid 0"],
        "iteration": [0, 0, 10, 10],
        "batch": [16, 64, 16, 64],
        "size": [1.0, 0.25, 1.0, 0.25],
    }
)
ABLATIONS = ESTIMATES.iloc[:2].assign(name=["a (default)", "b"])
THROUGHPUT = pd.DataFrame(
    {
        "label": ["a", "b", "b"],
        "grid": ["8x56, 16", "8x56, 16", "4x28, 128"],
        "clips_per_s": [190.0, 185.0, 1200.0],
        "wait": [3.0, 2.9, 2.5],
    }
)
LENGTHS = pd.DataFrame(
    {
        "line": ["a", "a", "b", "b"],
        "epochs": [15, 30, 15, 30],
        "time": [10.0, 20.0, 4.0, 8.0],
        "mean": [60.0, 70.0, 55.0, 68.0],
        "low": [59.0, 69.0, 54.0, 67.0],
        "high": [61.0, 71.0, 56.0, 69.0],
    }
)
LENGTH_CURVES = pd.DataFrame(
    {
        "line": ["a", "a"],
        "name": ["a, 30 epochs", "a, 30 epochs"],
        "fraction": [0.5, 1.0],
        "time": [10.0, 20.0],
        "value": [50.0, 69.0],
    }
)
PLOTS = {
    "accuracy_vs_time": lambda ax: plots.plot_accuracy_vs_time(
        ESTIMATES, RUNS_FRAME, palette=PALETTE, ax=ax, legend=True
    ),
    "accuracy_without_seeds": lambda ax: plots.plot_accuracy_vs_time(
        ESTIMATES, palette=PALETTE, ax=ax
    ),
    "curves": lambda ax: plots.plot_curves(CURVES, palette=PALETTE, ax=ax),
    "length_sweep": lambda ax: plots.plot_length_sweep(
        LENGTHS, palette=PALETTE, ax=ax, curves=LENGTH_CURVES, legend=True
    ),
    "schedule": lambda ax: plots.plot_schedule(
        SCHEDULE, "batch", palette=plots.palette_for(SCHEDULE["grid"]), ax=ax
    ),
    "ablations": lambda ax: plots.plot_ablations(ABLATIONS, palette=PALETTE, ax=ax),
    "speedups": lambda ax: plots.plot_ablations(
        ABLATIONS, "speedup", palette=PALETTE, ax=ax, interval=False, reference=1.0
    ),
    "throughput": lambda ax: plots.plot_throughput(
        THROUGHPUT, "clips_per_s", palette=PALETTE, ax=ax, hue_order=["a", "b"]
    ),
}


@pytest.mark.parametrize("name", sorted(PLOTS))
@pytest.mark.parametrize("given", [False, True], ids=["ax=None", "ax given"])
def test_plot_functions_draw_on_axes_and_leave_settings_alone(name, given):
    plt.close("all")
    rc = dict(mpl.rcParams)
    given_ax = plt.subplots()[1] if given else None
    try:
        ax = PLOTS[name](given_ax)
        assert isinstance(ax, Axes)
        assert ax is given_ax if given else len(plt.get_fignums()) == 1
        assert ax.has_data()
        assert dict(mpl.rcParams) == rc  # no theme, no rcParams
    finally:
        plt.close("all")


def test_palette_for_gives_one_colour_per_label_in_order():
    palette = plots.palette_for(["b", "a", "b", "c"])
    assert list(palette) == ["b", "a", "c"]
    assert len(set(palette.values())) == 3


def test_no_ablations_no_ablation_figure(tiny):
    assert ablation_figure(replace(tiny, ablations=tiny.ablations.iloc[:0]), PALETTE) is None


def test_training_curves_without_evaluations_during_training_draw_the_loss_alone(tiny):
    palette = plots.palette_for(tiny.loss_curves["label"])
    both, _ = training_curves(tiny, palette)
    fig, figure = training_curves(replace(tiny, val_curves=tiny.val_curves.iloc[:0]), palette)
    try:
        assert len(both.axes) == 2 and len(fig.axes) == 1
        assert fig.axes[0].get_ylabel() == "training loss (epoch mean)"
        assert "did not evaluate during training" in figure.caption
    finally:
        plt.close(both)
        plt.close(fig)


def test_build_figures_leaves_the_callers_settings_alone(built):
    _, _, rc_before, rc_after = built
    assert rc_after == rc_before


def test_figures_and_report_of_a_plan_subset(tmp_path, fixture_runs_copy):
    """A second experiment none of whose runs exist and an ablation that has not run: figures
    of what ran, a note for the rest, and a report that says how many did not run."""
    import copy

    import yaml

    raw = yaml.safe_load(PLAN_FILE.read_text())
    raw["experiments"].append(
        {**copy.deepcopy(raw["experiments"][0]), "id": "tiny_more", "title": "Not trained"}
    )
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    plan = read_plan(tmp_path / "plan.yaml")
    (fixture_runs_copy / "fixture/tiny/bn_base_4-s0/summary.json").unlink()
    collect(plan, fixture_runs_copy).write(tmp_path / "results")
    made = build_figures(plan, tmp_path / "results", tmp_path / "figures")
    assert {f.id for f in made} == {
        "tiny_accuracy_vs_time",
        "tiny_training_curves",
        "tiny_schedule",
        "tiny_throughput",
    }  # no ablation figure (its one variant has not run), nothing of tiny_more
    assert all(f.caption.endswith("Not run, so not shown: BN base size 4.") for f in made)
    index = (tmp_path / "figures" / "README.md").read_text()
    assert "- Not trained: not run (no finished run), so no figures." in index
    write_report(plan, tmp_path / "results", tmp_path / "figures", tmp_path / "report.html")
    assert "planned runs have not run" in (tmp_path / "report.html").read_text()
