"""The paper's figures of a plan: panels of :mod:`replication.results.plots` composed and saved.

Per experiment: accuracy against training time with the budget-matched baseline curve, accuracy at
the curve points (equal fractions of the baseline's compute) against training time with the
time-to-accuracy target, the training-length sweep (final accuracy against training time, one
line per recipe), training curves against time, the schedule (grid shape and batch against
iteration), ablation bars with the tables' bootstrap CIs, and throughput per grid. This layer only
composes: the frames are built once (:mod:`replication.results.frames`), every panel is one plot
function, and here go the figure sizes, titles, axis labels, legends and captions. The seaborn
theme is applied once, as an rc context around the drawing, so nothing leaks into the caller's
matplotlib settings. Output is deterministic: the Agg backend, fixed sizes and DPI, no timestamps
in the files' metadata.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, no display, identical bytes everywhere

import matplotlib.pyplot as plt
import seaborn as sns
from cycler import cycler

from replication.io.atomic import atomic_folder, atomic_write_text
from replication.results import plots
from replication.results.frames import ExperimentFrames, experiment_frames
from replication.results.query import Results
from replication.results.time_to_accuracy import TARGET_PERCENT
from replication.results.units import METRIC_NAMES, TIMES
from replication.workflow import Plan

PNG_META = {"Software": None}
PDF_META = {"Creator": None, "Producer": None, "CreationDate": None}
WIDTH_IN = 7.0  # one figure spans a page column pair
LEGEND = {"title": None, "fontsize": 8, "frameon": False}


@dataclass(frozen=True)
class Figure:
    """A written figure: id (file stem), title and caption."""

    id: str
    title: str
    caption: str


Drawn = tuple[plt.Figure, Figure]


def theme() -> dict[str, Any]:
    """The rc settings of seaborn's paper context, ticks style and colourblind palette.

    What ``sns.set_theme(context="paper", style="ticks", palette="colorblind")`` sets, as data:
    :func:`build_figures` applies it with ``plt.rc_context`` instead of changing the process's
    settings for good.
    """
    return {
        **sns.plotting_context("paper"),
        **sns.axes_style("ticks"),
        "font.family": "sans-serif",
        "axes.prop_cycle": cycler(color=sns.color_palette("colorblind")),
    }


def _save(fig: plt.Figure, out: Path, stem: str) -> None:
    # Tight bounds: a long experiment title over two panels ran past the figure's edges.
    fig.savefig(out / f"{stem}.png", dpi=150, metadata=PNG_META, bbox_inches="tight")
    fig.savefig(out / f"{stem}.pdf", metadata=PDF_META, bbox_inches="tight")
    plt.close(fig)


# --------------------------------------------------------------------------- figures


def accuracy_vs_time(fr: ExperimentFrames, palette: plots.Palette) -> Drawn:
    """Final metric against training time per variant, with the budget-matched baseline curve."""
    exp = fr.experiment
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2), layout="constrained")
    plots.plot_accuracy_vs_time(fr.estimates, fr.runs, palette=palette, ax=ax)
    ax.set_xlabel(f"training time ({fr.unit.name}, training loop only)")
    ax.set_ylabel(f"final {METRIC_NAMES[fr.metric]}")
    ax.set_title(f"{exp.title}: accuracy vs training time")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), **LEGEND)
    return fig, Figure(
        f"{exp.id}_accuracy_vs_time",
        f"{exp.title}: accuracy vs training time",
        "Final multi-view test accuracy against training-loop wall-clock. Large markers: mean "
        "over seeds with 95 % bootstrap CI; small markers: single seeds. The dashed line joins "
        "the baseline trained for fewer epochs (budget-matched) and the full baseline: a variant "
        "above it is more accurate for its training time.",
    )


def accuracy_curves(fr: ExperimentFrames, palette: plots.Palette) -> Drawn | None:
    """Curve-point accuracy against training time per variant, with the time-to-accuracy target."""
    if fr.curves.empty:
        return None
    exp, x = fr.experiment, TARGET_PERCENT
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2), layout="constrained")
    order = fr.labels("main", "budget", rows=fr.curves)
    plots.plot_accuracy_curves(
        fr.curves,
        palette=palette,
        ax=ax,
        target=fr.target,
        target_label=f"{x} % of baseline's final",
        reach=fr.time_to_target,
        hue_order=order,
        legend=False,
    )
    ax.set_xlabel(f"training time ({fr.unit.name}, training loop only)")
    ax.set_ylabel(f"{METRIC_NAMES[fr.metric]} (1 view, test shape)")
    ax.set_title(f"{exp.title}: accuracy at equal compute vs training time")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), **LEGEND)
    return fig, Figure(
        f"{exp.id}_accuracy_curves",
        f"{exp.title}: accuracy curves",
        "Accuracy at the curve points: every variant evaluated the same way (precise BN, one "
        "view at the test shape) at the same fractions of the baseline's training compute and "
        "at its end, against training-loop wall-clock. Thick lines: means over seeds at each "
        f"fraction; thin lines: single seeds. Dashed line: the target, {x} % of the baseline's "
        "final curve accuracy (mean over its seeds of their last point). Triangles on it: each "
        "variant's time to reach it, the first evaluated point at or above it (no "
        "interpolation, so as fine as the points are spaced), mean over the seeds that reach "
        "it; the main table says how many do.",
    )


def length_sweep(fr: ExperimentFrames, palette: plots.Palette) -> Drawn | None:
    """Final metric against training time for each line of the training-length sweep."""
    if fr.lengths.empty:
        return None
    del palette  # coloured by sweep line, not by variant
    exp, metric = fr.experiment, METRIC_NAMES[fr.metric]
    lines = plots.palette_for(fr.lengths["line"])
    longest = fr.lengths.sort_values("epochs").groupby("line", sort=False).tail(1)
    curves = fr.curves.merge(longest[["variant", "line", "epochs"]], on="variant")
    names = curves["line"] + ", " + curves["epochs"].astype(str) + " epochs: curve points"
    curves = curves.assign(name=names)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2), layout="constrained")
    plots.plot_length_sweep(fr.lengths, palette=lines, ax=ax, curves=curves)
    ax.set_xlabel(f"training time ({fr.unit.name}, training loop only)")
    ax.set_ylabel(f"final {metric}")
    ax.set_title(f"{exp.title}: accuracy vs training length")
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: names[i] not in lines)  # the lines first
    legend = [handles[i] for i in order], [names[i] for i in order]
    ax.legend(*legend, loc="center left", bbox_to_anchor=(1.01, 0.5), **LEGEND)
    return fig, Figure(
        f"{exp.id}_length_sweep",
        f"{exp.title}: accuracy vs training length",
        "Each line of the training-length sweep (one recipe trained for several numbers of "
        "epochs, each point labelled with them): final multi-view test accuracy against "
        "training-loop wall-clock, mean over seeds with 95 % bootstrap CI. "
        + (
            "Faint lines: the seed-mean curve points (one view at the test shape, so not the "
            "final test) of each line's longest run. "
            if not curves.empty
            else ""
        )
        + f"The table {exp.id}_sweep compares each line with the baseline's at equal "
        "training-loop time (linear interpolation between its lengths) and states where they "
        "cross, if they do.",
    )


def training_curves(fr: ExperimentFrames, palette: plots.Palette) -> Drawn:
    """Validation metric during training (if the runs evaluated) and loss, against time."""
    exp = fr.experiment
    evaluated = not fr.val_curves.empty  # False with train.eval_during_training: false
    panels = [(fr.loss_curves, "training loss (epoch mean)")]
    if evaluated:
        ylabel = f"validation {METRIC_NAMES[fr.metric]} (1 view, current grid)"
        panels.insert(0, (fr.val_curves, ylabel))
    width = WIDTH_IN if evaluated else WIDTH_IN / 2 + 0.8
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 3.6), layout="constrained",
                             squeeze=False)  # fmt: skip
    for ax, (curves, ylabel) in zip(axes[0], panels, strict=True):
        order = fr.labels("main", "budget", rows=curves)
        last = ax is axes[0][-1]
        plots.plot_curves(curves, palette=palette, ax=ax, hue_order=order, legend=last)
        ax.set_xlabel(f"training time ({fr.unit.name})")
        ax.set_ylabel(ylabel)
    axes[0][-1].legend(**LEGEND)
    fig.suptitle(f"{exp.title}: training curves (seed means)")
    loss = "mean training loss of each epoch against training-loop time, means over seeds."
    caption = (
        "Left: validation accuracy at each evaluation during training, measured with one view "
        "at the current long-cycle grid (not comparable with the final multi-view test). "
        f"Right: {loss}"
        if evaluated
        else f"The {loss} The runs did not evaluate during training "
        "(train.eval_during_training: false); the accuracy curves figure shows accuracy "
        "against time."
    )
    return fig, Figure(f"{exp.id}_training_curves", f"{exp.title}: training curves", caption)


def schedule_figure(fr: ExperimentFrames, palette: plots.Palette) -> Drawn:
    """Batch and grid size against iteration for each main variant, from the schedule module."""
    del palette  # coloured by grid, not by variant
    exp, labels = fr.experiment, fr.labels("main")
    grids = plots.palette_for(sorted(set(fr.schedule["grid"])))
    fig, axes = plt.subplots(
        2,
        len(labels),
        figsize=(WIDTH_IN, 4.6),
        sharex=True,
        sharey="row",
        squeeze=False,
        layout="constrained",
    )
    for column, label in enumerate(labels):
        part = fr.schedule[fr.schedule["label"] == label]
        for row, y in enumerate(("batch", "size")):
            plots.plot_schedule(part, y, palette=grids, ax=axes[row][column])
        axes[0][column].set_title(label, fontsize=9)
        axes[1][column].set_xlabel("iteration")
    axes[0][0].set_ylabel("mini-batch (clips)")
    axes[1][0].set_ylabel(f"frames {TIMES} crop² (rel. to base)")
    handles: dict[str, Any] = {}  # every grid once, whichever variant trains on it
    for ax in axes[0]:
        for handle, grid in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(grid, handle)
    names = [g for g in grids if g in handles]
    legend = [handles[g] for g in names]
    fig.legend(legend, names, loc="outside lower center", ncols=len(grids), frameon=False)
    fig.suptitle(f"{exp.title}: multigrid schedule")
    return fig, Figure(
        f"{exp.id}_schedule",
        f"{exp.title}: schedule",
        "Mini-batch size (top) and grid size T·S² relative to the base shape (bottom) against "
        "training iteration, computed by the schedule module for each variant's config. Short "
        "cycles cycle through their grids every iteration; long cycles step through coarse to "
        "fine shapes within each learning-rate stage; the product of batch and size stays about "
        "constant.",
    )


def ablation_figure(fr: ExperimentFrames, palette: plots.Palette) -> Drawn | None:
    """Metric (with bootstrap CI) and measured speedup per ablation, beside the default."""
    if fr.ablations.empty:
        return None
    exp = fr.experiment
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(WIDTH_IN, 3.4), sharey=True, layout="constrained"
    )
    plots.plot_ablations(fr.ablations, "mean", palette=palette, ax=left)
    plots.plot_ablations(
        fr.ablations, "speedup", palette=palette, ax=right, interval=False, reference=1.0
    )
    left.set_xlabel(f"final {METRIC_NAMES[fr.metric]}")
    right.set_xlabel(f"measured speedup over baseline ({TIMES})")
    fig.suptitle(f"{exp.title}: ablations of long + short cycle")
    return fig, Figure(
        f"{exp.id}_ablations",
        f"{exp.title}: ablations",
        "Each bar changes one setting of long + short cycle. Left: final accuracy, seed mean with "
        "95 % bootstrap CI (no interval for one seed; n = seeds). Right: measured wall-clock "
        "speedup of the training loop over the baseline.",
    )


def throughput_figure(fr: ExperimentFrames, palette: plots.Palette) -> Drawn:
    """Clips per second and data-wait share for every grid (T x crop, batch) of each variant."""
    exp, frame = fr.experiment, fr.throughput
    order = list(dict.fromkeys(frame["grid"]))
    present = fr.labels("main", rows=frame)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(WIDTH_IN, 5.0), sharex=True, layout="constrained"
    )
    for ax, y, name in ((top, "clips_per_s", "clips / s"), (bottom, "wait", "data wait (%)")):
        plots.plot_throughput(
            frame, y, palette=palette, ax=ax, order=order, hue_order=present, legend=ax is top
        )
        ax.set_ylabel(name)
        ax.set_xlabel("")
    bottom.set_xlabel(f"grid: frames {TIMES} crop², global batch (clips)")
    bottom.tick_params(axis="x", labelrotation=30, labelsize=7)
    top.legend(ncols=len(present), **LEGEND)
    fig.suptitle(f"{exp.title}: throughput per grid (seed means)")
    return fig, Figure(
        f"{exp.id}_throughput",
        f"{exp.title}: throughput per grid",
        "Training throughput of each grid from the logged steps: clips per second of data wait "
        "plus compute (top) and the share of that time spent waiting for the loader (bottom). "
        "Coarse grids process more clips per second; a large data-wait share means the run is "
        "input-bound there.",
    )


FIGURES: tuple[Callable[[ExperimentFrames, plots.Palette], Drawn | None], ...] = (
    accuracy_vs_time,
    accuracy_curves,
    length_sweep,
    training_curves,
    schedule_figure,
    ablation_figure,
    throughput_figure,
)


def build_figures(plan: Plan, results_dir: Path | str, out_dir: Path | str) -> list[Figure]:
    """Draw every figure of a plan into ``out_dir``; the index README.md is written last.

    Variants none of whose runs finished are left out, with a note in each caption; an
    experiment none of whose runs finished gets no figure and a "not run" line in the index.
    """
    res = Results(plan, results_dir)
    ran = {r["experiment"] for r in res.runs}
    frames = [experiment_frames(res, exp) for exp in plan.experiments if exp.id in ran]
    out_dir = Path(out_dir)
    made: list[Figure] = []
    with plt.rc_context(theme()), atomic_folder(out_dir) as tmp:
        for fr in frames:
            missing = res.not_run(fr.experiment.id)
            note = f" Not run, so not shown: {', '.join(missing)}." if missing else ""
            palette = plots.palette_for(fr.labels())  # one colour per variant in every figure
            for compose in FIGURES:
                print(
                    f"figure {compose.__name__} of {fr.experiment.id}", file=sys.stderr, flush=True
                )
                drawn = compose(fr, palette)
                if drawn is None:  # nothing to show, e.g. an experiment without ablations
                    continue
                fig, figure = drawn
                _save(fig, tmp, figure.id)
                made.append(replace(figure, caption=figure.caption + note))
    not_run = [exp.title for exp in plan.experiments if exp.id not in ran]
    _write_index(plan, made, not_run, out_dir)
    return made


def _write_index(plan: Plan, made: list[Figure], not_run: list[str], out_dir: Path) -> None:
    """``figures.json`` (the report reads it) and ``README.md`` (the marker of a complete set)."""
    index = [{"id": f.id, "title": f.title, "caption": f.caption} for f in made]
    atomic_write_text(out_dir / "figures.json", json.dumps(index, indent=1) + "\n")
    lines = [f"# Figures of plan '{plan.name}'", "", "Generated by `snakemake figures`.", ""]
    lines += [f"- {title}: not run (no finished run), so no figures." for title in not_run]
    lines += [""] if not_run else []
    for f in made:
        lines += [
            f"## {f.title}",
            "",
            f"![{f.title}]({f.id}.png) ([PDF]({f.id}.pdf))",
            "",
            f.caption,
            "",
        ]
    atomic_write_text(out_dir / "README.md", "\n".join(lines))
