"""The paper's figures from the collected CSVs and the schedule module (seaborn, PNG + PDF).

The only module that imports matplotlib, seaborn and pandas. Per experiment: accuracy against
training time with the budget-matched baseline curve, training curves against time, the
schedule (grid shape and batch against iteration, from :mod:`replication.schedule`), ablation
bars with the tables' bootstrap CIs, and throughput per grid. Output is deterministic: the Agg
backend, fixed sizes and DPI, no timestamps in the files' metadata.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, no display, identical bytes everywhere

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from replication.io.atomic import atomic_folder, atomic_write_text
from replication.results.tables import METRIC_NAMES, TIMES, Results
from replication.schedule import build_schedule, clips_per_process, iterations_per_epoch
from replication.workflow import BASELINE, Experiment, Plan, expand_runs

PNG_META = {"Software": None}
PDF_META = {"Creator": None, "Producer": None, "CreationDate": None}
WIDTH_IN = 7.0  # one figure spans a page column pair


@dataclass(frozen=True)
class Figure:
    """A written figure: id (file stem), title and caption."""

    id: str
    title: str
    caption: str


# --------------------------------------------------------------------------- helpers


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _colors(res: Results, exp: Experiment) -> dict[str, tuple[float, float, float]]:
    """One colour per variant label, the same in every figure of the experiment."""
    labels = [lab for _, lab in res.variants(exp.id, ("main", "ablation", "budget"))]
    colors = dict(zip(labels, sns.color_palette("colorblind", max(len(labels), 1)), strict=False))
    for label in labels:  # the ablation figure's reference row keeps its variant's colour
        colors[f"{label} (default)"] = colors[label]
    return colors


def _save(fig: plt.Figure, out: Path, stem: str) -> None:
    # Tight bounds: a long experiment title over two panels ran past the figure's edges.
    fig.savefig(out / f"{stem}.png", dpi=150, metadata=PNG_META, bbox_inches="tight")
    fig.savefig(out / f"{stem}.pdf", metadata=PDF_META, bbox_inches="tight")
    plt.close(fig)


def _time_axis(res: Results, exp: Experiment) -> tuple[str, float]:
    longest = max((r["train_s"] for r in res.runs if r["experiment"] == exp.id), default=0.0)
    if longest >= 7200:
        return "hours", 3600.0
    return ("minutes", 60.0) if longest >= 120 else ("seconds", 1.0)


# --------------------------------------------------------------------------- figures


def accuracy_vs_time(res: Results, exp: Experiment, out: Path) -> Figure:
    """Final metric against training time per variant, with the budget-matched baseline curve."""
    metric = res.metrics(exp.id)[0]
    unit, scale = _time_axis(res, exp)
    variants = res.variants(exp.id, ("main", "ablation"))
    colors = _colors(res, exp)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2), layout="constrained")
    sweep = [(v, lab) for v, lab in res.variants(exp.id, ("budget",))] + [
        (v, lab) for v, lab in variants if v == BASELINE
    ]
    points = sorted(
        (res.mean(exp.id, v, "train_s") / scale, res.mean(exp.id, v, metric))
        for v, _ in sweep
        if res.mean(exp.id, v, metric) is not None
    )
    if len(points) > 1:
        ax.plot(
            *zip(*points, strict=True), "--", color="0.5", zorder=1, label="baseline, budget sweep"
        )
    for v, _ in res.variants(exp.id, ("budget",)):
        seeds = res.runs_of(exp.id, v)
        ax.scatter(
            [r["train_s"] / scale for r in seeds],
            [r[metric] for r in seeds],
            color="0.5",
            marker="s",
            s=18,
            alpha=0.6,
            zorder=2,
        )
    for v, label in variants:
        est = res.estimate(exp.id, v, metric)
        if est is None:
            continue
        seeds = res.runs_of(exp.id, v)
        x = res.mean(exp.id, v, "train_s") / scale
        ax.scatter(
            [r["train_s"] / scale for r in seeds],
            [r[metric] for r in seeds],
            color=colors[label],
            s=12,
            alpha=0.4,
            zorder=2,
        )
        ax.errorbar(
            x,
            est.mean,
            yerr=[[est.mean - est.low], [est.high - est.mean]],
            fmt="o",
            ms=7,
            capsize=3,
            color=colors[label],
            label=label,
            zorder=3,
        )
    ax.set_xlabel(f"training time ({unit}, training loop only)")
    ax.set_ylabel(f"final {METRIC_NAMES[metric]}")
    ax.set_title(f"{exp.title}: accuracy vs training time")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    stem = f"{exp.id}_accuracy_vs_time"
    _save(fig, out, stem)
    return Figure(
        stem,
        f"{exp.title}: accuracy vs training time",
        "Final multi-view test accuracy against training-loop wall-clock. Large markers: mean "
        "over seeds with 95 % bootstrap CI; small markers: single seeds. The dashed line joins "
        "the baseline trained for fewer epochs (budget-matched) and the full baseline: a variant "
        "above it is more accurate for its training time.",
    )


def training_curves(res: Results, exp: Experiment, out: Path) -> Figure:
    """Validation metric during training and training loss, against training time."""
    metric = res.metrics(exp.id)[0]
    unit, scale = _time_axis(res, exp)
    labels = dict(res.variants(exp.id, ("main", "budget")))
    colors = _colors(res, exp)
    evals = _frame([e for e in res.evals if e["experiment"] == exp.id and e["variant"] in labels])
    epochs = _frame(
        [
            e
            for e in res.epochs
            if e["experiment"] == exp.id and e["variant"] in labels and e["clips"] > 0
        ]
    )  # epochs without a step (tiny coarse phases) have no loss
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.6), layout="constrained")
    for frame, ax, y in ((evals[evals["kind"] == "train"], left, metric), (epochs, right, "loss")):
        mean = frame.groupby(["label", "epoch"], sort=True)[["train_s", y]].mean().reset_index()
        mean["time"] = mean["train_s"] / scale
        sns.lineplot(
            data=mean,
            x="time",
            y=y,
            hue="label",
            palette=colors,
            ax=ax,
            errorbar=None,
            marker="o",
            markersize=3,
            legend=ax is right,
        )
        ax.set_xlabel(f"training time ({unit})")
    left.set_ylabel(f"validation {METRIC_NAMES[metric]} (1 view, current grid)")
    right.set_ylabel("training loss (epoch mean)")
    right.legend(title=None, fontsize=8, frameon=False)
    fig.suptitle(f"{exp.title}: training curves (seed means)")
    stem = f"{exp.id}_training_curves"
    _save(fig, out, stem)
    return Figure(
        stem,
        f"{exp.title}: training curves",
        "Left: validation accuracy at each evaluation during training, measured with one view at "
        "the current long-cycle grid (not comparable with the final multi-view test). Right: "
        "mean training loss of each epoch. Both against training-loop time, means over seeds.",
    )


def _schedule_rows(cfg, clips: int, label: str) -> list[dict]:
    """Per epoch and grid: the iteration it starts at, the batch and T*S^2 relative to base."""
    schedule = build_schedule(cfg, clips_per_epoch=clips)
    base = cfg.data.num_frames * cfg.data.train_crop_size**2
    rows, start = [], 0
    for e in schedule.epochs:
        grids = [(g.batch_size, g.crop_size) for g in e.short_cycle or ()] or [
            (e.per_gpu_batch_size, e.crop_size)
        ]
        iters = iterations_per_epoch(clips_per_process(clips, cfg.train.num_gpus), e.batch_sizes)
        for index, (batch, crop) in enumerate(grids):
            rows.append(
                {
                    "variant": label,
                    "iteration": start,
                    "grid": "full size" if index == len(grids) - 1 else f"short-cycle grid {index}",
                    "batch": batch * cfg.train.num_gpus,
                    "size": e.num_frames * crop**2 / base,
                }
            )
        start += iters
    # Close every step line at the last iteration, so lengths compare across variants.
    last = {row["grid"]: row for row in rows}
    rows.extend({**row, "iteration": start} for row in last.values())
    return rows


def schedule_figure(res: Results, exp: Experiment, out: Path) -> Figure:
    """Batch and grid size against iteration for each main variant, from the schedule module."""
    runs = {r.variant: r for r in expand_runs(res.plan) if r.experiment == exp.id}
    clips = max((r["clips_per_epoch"] for r in res.runs_of(exp.id, BASELINE)), default=0)
    variants = res.variants(exp.id, ("main",))
    rows = [
        row
        for v, label in variants
        for row in _schedule_rows(runs[v].resolved_config(), max(clips, 1), label)
    ]
    frame = _frame(rows)
    fig, axes = plt.subplots(
        2,
        len(variants),
        figsize=(WIDTH_IN, 4.6),
        sharex=True,
        sharey="row",
        squeeze=False,
        layout="constrained",
    )
    grids = sorted(frame["grid"].unique())
    colors = dict(zip(grids, sns.color_palette("colorblind", len(grids)), strict=True))
    for column, (_, label) in enumerate(variants):
        part = frame[frame["variant"] == label]
        for grid in grids:
            g = part[part["grid"] == grid]
            if g.empty:
                continue
            for row, y in ((0, "batch"), (1, "size")):
                axes[row][column].step(
                    g["iteration"],
                    g[y],
                    where="post",
                    color=colors[grid],
                    label=grid,
                    linewidth=1.2,
                )
        axes[0][column].set_title(label, fontsize=9)
        axes[1][column].set_xlabel("iteration")
        axes[0][column].set_yscale("log", base=2)
        axes[1][column].set_yscale("log", base=2)
    axes[0][0].set_ylabel("mini-batch (clips)")
    axes[1][0].set_ylabel(f"frames {TIMES} crop² (rel. to base)")
    handles, names = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(grids), frameon=False)
    fig.suptitle(f"{exp.title}: multigrid schedule")
    stem = f"{exp.id}_schedule"
    _save(fig, out, stem)
    return Figure(
        stem,
        f"{exp.title}: schedule",
        "Mini-batch size (top) and grid size T·S² relative to the base shape (bottom) against "
        "training iteration, computed by the schedule module for each variant's config. Short "
        "cycles cycle through their grids every iteration; long cycles step through coarse to "
        "fine shapes within each learning-rate stage; the product of batch and size stays about "
        "constant.",
    )


def ablation_figure(res: Results, exp: Experiment, out: Path) -> Figure | None:
    """Metric (with bootstrap CI) and measured speedup per ablation, beside the default."""
    ablations = res.variants(exp.id, ("ablation",))
    if not ablations:
        return None
    metric = res.metrics(exp.id)[0]
    variants = [
        (v, f"{lab} (default)") for v, lab in res.variants(exp.id, ("main",)) if v == "long_short"
    ] + ablations
    labels = [label for _, label in variants]
    colors = _colors(res, exp)
    colors[labels[0]] = colors.get(labels[0][: -len(" (default)")], colors[labels[0]])
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(WIDTH_IN, 3.4), sharey=True, layout="constrained"
    )
    for i, (v, label) in enumerate(variants):
        est = res.estimate(exp.id, v, metric)
        if est is not None:
            left.barh(i, est.mean, color=colors[label])
            if est.n > 1:
                left.errorbar(
                    est.mean,
                    i,
                    xerr=[[est.mean - est.low], [est.high - est.mean]],
                    color="black",
                    capsize=3,
                )
        measured, _ = res.speedups(exp.id, v)
        if measured is not None:
            right.barh(i, measured, color=colors[label])
    seeds = [len(res.runs_of(exp.id, v)) for v, _ in variants]
    ticks = [f"{lab}\n{n} seed{'s' * (n != 1)}" for lab, n in zip(labels, seeds, strict=True)]
    left.set_yticks(range(len(labels)), ticks)
    left.invert_yaxis()
    left.set_xlabel(f"final {METRIC_NAMES[metric]}")
    right.set_xlabel(f"measured speedup over baseline ({TIMES})")
    right.axvline(1.0, color="0.5", linestyle="--", linewidth=1)
    fig.suptitle(f"{exp.title}: ablations of long + short cycle")
    stem = f"{exp.id}_ablations"
    _save(fig, out, stem)
    return Figure(
        stem,
        f"{exp.title}: ablations",
        "Each bar changes one setting of long + short cycle. Left: final accuracy, seed mean with "
        "95 % bootstrap CI (no interval for one seed; n = seeds). Right: measured wall-clock "
        "speedup of the training loop over the baseline.",
    )


def throughput_figure(res: Results, exp: Experiment, out: Path) -> Figure:
    """Clips per second and data-wait share for every grid (T x crop, batch) of each variant."""
    labels = dict(res.variants(exp.id, ("main",)))
    rows = [
        {
            **g,
            "label": labels[g["variant"]],
            "grid": f"{g['num_frames']}{TIMES}{g['crop_size']}², {g['batch_size']}",
            "wait": 100 * (g["data_share"] or 0.0),
        }
        for g in res.grids
        if g["experiment"] == exp.id and g["variant"] in labels
    ]
    frame = _frame(rows).sort_values(["batch_size", "num_frames", "crop_size"], ascending=False)
    order = list(dict.fromkeys(frame["grid"]))
    colors = _colors(res, exp)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(WIDTH_IN, 5.0), sharex=True, layout="constrained"
    )
    for ax, y, name in ((top, "clips_per_s", "clips / s"), (bottom, "wait", "data wait (%)")):
        sns.barplot(
            data=frame,
            x="grid",
            y=y,
            hue="label",
            order=order,
            palette=colors,
            errorbar=None,
            ax=ax,
            legend=ax is top,
        )
        ax.set_ylabel(name)
        ax.set_xlabel("")
    bottom.set_xlabel(f"grid: frames {TIMES} crop², global batch (clips)")
    bottom.tick_params(axis="x", labelrotation=30, labelsize=7)
    top.legend(title=None, fontsize=8, frameon=False, ncols=len(labels))
    fig.suptitle(f"{exp.title}: throughput per grid (seed means)")
    stem = f"{exp.id}_throughput"
    _save(fig, out, stem)
    return Figure(
        stem,
        f"{exp.title}: throughput per grid",
        "Training throughput of each grid from the logged steps: clips per second of data wait "
        "plus compute (top) and the share of that time spent waiting for the loader (bottom). "
        "Coarse grids process more clips per second; a large data-wait share means the run is "
        "input-bound there.",
    )


FIGURES: tuple[Callable[[Results, Experiment, Path], Figure | None], ...] = (
    accuracy_vs_time,
    training_curves,
    schedule_figure,
    ablation_figure,
    throughput_figure,
)


def build_figures(plan: Plan, results_dir: Path | str, out_dir: Path | str) -> list[Figure]:
    """Draw every figure of a plan into ``out_dir``; the index README.md is written last."""
    res = Results(plan, results_dir)
    out_dir = Path(out_dir)
    sns.set_theme(context="paper", style="ticks", palette="colorblind")
    made: list[Figure] = []
    with atomic_folder(out_dir) as tmp:
        for exp in plan.experiments:
            for draw in FIGURES:
                print(f"figure {draw.__name__} of {exp.id}", file=sys.stderr, flush=True)
                figure = draw(res, exp, tmp)
                if figure is not None:
                    made.append(figure)
    index = [{"id": f.id, "title": f.title, "caption": f.caption} for f in made]
    atomic_write_text(out_dir / "figures.json", json.dumps(index, indent=1) + "\n")
    lines = [f"# Figures of plan '{plan.name}'", "", "Generated by `snakemake figures`.", ""]
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
    return made
