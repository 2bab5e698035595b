"""Tidy long-form frames of each experiment, built once from the collected results.

The figures' only data. Every plot function of :mod:`replication.results.plots` reads one of
these frames and nothing else, so a notebook that builds them (``plan_frames``) can draw, change
or restyle any panel without the CSVs, the plan or the schedule code. Estimates, speedups and
time units come from the same query layer (:mod:`replication.results.query`) and unit rule
(:mod:`replication.results.units`) as the tables, so a figure and its table never disagree.

Columns of each frame (:data:`COLUMNS`; ``time`` is ``train_s`` in the experiment's time unit,
``value`` the experiment's headline metric or loss):

- ``variants``: one row per variant, in plan order: ``variant, label, group`` (main, ablation
  or budget).
- ``runs``: one row per run (seed): ``variant, label, group, seed, train_s, time, value``.
- ``estimates``: one row per variant: ``variant, label, group, seeds`` (runs), ``n`` (runs with
  the metric), ``time`` (seed mean), ``mean, low, high`` (seed mean of the metric and its 95 %
  bootstrap CI, as in the tables; NaN without a metric), ``speedup`` (measured, over the
  baseline), ``sweep`` (True for the budget-matched baselines and the full baseline, which form
  the baseline's accuracy-for-time curve).
- ``val_curves``: one row per main or budget variant and evaluation during training, seed means:
  ``variant, label, epoch, train_s, time, value`` (1-view validation metric at the current grid).
- ``loss_curves``: the same per epoch that logged steps, ``value`` the epoch's mean training loss.
- ``curves``: one row per curve point of each main or budget variant's runs (``evals.csv`` kind
  "curve"; empty without ``train.curve_fractions``): ``variant, label, group, seed, fraction``
  (of the baseline's compute), ``train_s, time`` (training loop so far), ``value`` (1-view
  metric at the test shape).
- ``time_to_target``: one row per main or budget variant with curve points: ``variant, label,
  seeds`` (with points), ``reached`` (seeds reaching the target), ``train_s, time`` (mean over
  those of the loop time at the first point reaching it; NaN when none did), ``speedup``
  (baseline's time over it). The target (``ExperimentFrames.target``) is
  :data:`~replication.results.time_to_accuracy.TARGET_PERCENT` % of the baseline's final curve
  metric.
- ``lengths``: one row per measured point of the training-length sweep (variants with a
  ``sweep`` line; empty without them), lines in plan order, each by length: ``line, variant,
  label, epochs, seeds, n, train_s, time`` (seed-mean training-loop time), ``mean, low, high``
  (final metric and its 95 % bootstrap CI, as in the sweep table).
- ``schedule``: step points of each main variant's schedule: ``variant, label, grid`` ("full
  size" or "short-cycle grid i"), ``iteration`` (where the step starts; every grid's line closes
  at the last iteration), ``batch`` (global mini-batch, clips), ``size`` (T·S² over the base).
- ``ablations``: the default (long + short cycle) and each ablation, in plan order: the
  ``estimates`` columns ``variant, label, seeds, n, mean, low, high, speedup`` and ``name`` (the
  row's text: the label, "(default)" added to the default's).
- ``throughput``: one row per run and grid of the main variants: ``variant, label, seed,
  num_frames, crop_size, batch_size, grid`` (frames, crop² and batch as text), ``clips_per_s,
  wait`` (data-wait share of the step time, %), sorted from the largest batch to the smallest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from replication.config import RunConfig
from replication.results.collect import TABLES
from replication.results.query import Results
from replication.results.sweep import sweep_points
from replication.results.units import TIMES, TimeUnit, time_unit
from replication.schedule import build_schedule, clips_per_process, iterations_per_epoch
from replication.workflow import BASELINE, CURVED_GROUPS, Experiment, Plan, expand_runs

DEFAULT = "long_short"  # the variant the ablations change one setting of
COLUMNS: dict[str, tuple[str, ...]] = {
    "variants": ("variant", "label", "group"),
    "runs": ("variant", "label", "group", "seed", "train_s", "time", "value"),
    "estimates": (
        *("variant", "label", "group", "seeds", "n", "time"),
        *("mean", "low", "high", "speedup", "sweep"),
    ),
    "val_curves": ("variant", "label", "epoch", "train_s", "time", "value"),
    "loss_curves": ("variant", "label", "epoch", "train_s", "time", "value"),
    "curves": ("variant", "label", "group", "seed", "fraction", "train_s", "time", "value"),
    "time_to_target": ("variant", "label", "seeds", "reached", "train_s", "time", "speedup"),
    "lengths": (
        *("line", "variant", "label", "epochs", "seeds", "n", "train_s", "time"),
        *("mean", "low", "high"),
    ),
    "schedule": ("variant", "label", "grid", "iteration", "batch", "size"),
    "ablations": ("variant", "label", "name", "seeds", "n", "mean", "low", "high", "speedup"),
    "throughput": (
        *("variant", "label", "seed", "num_frames", "crop_size", "batch_size"),
        *("grid", "clips_per_s", "wait"),
    ),
}


@dataclass(frozen=True)
class ExperimentFrames:
    """The frames of one experiment (columns in the module docstring) and what they measure.

    Attributes:
        experiment: the plan's experiment (its id names the figures, its title heads them).
        metric: the headline metric column of the runs ('top1' or 'mAP'), ``value`` in ``runs``,
            ``estimates`` and ``val_curves``.
        unit: the time unit of every ``time`` column.
        target: the time-to-accuracy target (the metric's units); None without curve points.
    """

    experiment: Experiment
    metric: str
    unit: TimeUnit
    variants: pd.DataFrame
    runs: pd.DataFrame
    estimates: pd.DataFrame
    val_curves: pd.DataFrame
    loss_curves: pd.DataFrame
    curves: pd.DataFrame
    time_to_target: pd.DataFrame
    target: float | None
    lengths: pd.DataFrame
    schedule: pd.DataFrame
    ablations: pd.DataFrame
    throughput: pd.DataFrame

    def labels(self, *groups: str, rows: pd.DataFrame | None = None) -> list[str]:
        """Labels of the variants in ``groups`` (all when none given), in plan order.

        With ``rows`` (a frame), only the labels it has rows of: seaborn keeps a legend entry or
        a bar's room for every label it is given.
        """
        v = self.variants
        labels = list(v["label"][v["group"].isin(groups)] if groups else v["label"])
        return labels if rows is None else [x for x in labels if x in set(rows["label"])]


def plan_frames(plan: Plan, results_dir: Path | str) -> list[ExperimentFrames]:
    """The frames of every experiment of a plan that has a finished run, from its CSVs."""
    res = Results(plan, results_dir)
    ran = {r["experiment"] for r in res.runs}
    return [experiment_frames(res, exp) for exp in plan.experiments if exp.id in ran]


def experiment_frames(res: Results, exp: Experiment) -> ExperimentFrames:
    """Build every frame of one experiment once; the figures only read them."""
    metric = res.metrics(exp.id)[0]
    runs = _frame(res.runs, "runs", exp.id)
    unit = time_unit(list(runs["train_s"].dropna()))
    runs = runs.assign(time=runs["train_s"] / unit.seconds, value=runs[metric])
    variants = runs[list(COLUMNS["variants"])].drop_duplicates("variant", ignore_index=True)
    estimates = _estimates(res, exp, variants, metric, unit)
    mains = set(variants["variant"][variants["group"] == "main"])
    curved = set(variants["variant"][variants["group"].isin(CURVED_GROUPS)])
    evals = _frame(res.evals, "evals", exp.id, curved)
    epochs = _frame(res.epochs, "epochs", exp.id, curved)
    return ExperimentFrames(
        experiment=exp,
        metric=metric,
        unit=unit,
        variants=variants,
        runs=runs[list(COLUMNS["runs"])],
        estimates=estimates,
        val_curves=_seed_means(evals[evals["kind"] == "train"], metric, unit, "val_curves"),
        # Epochs without a step (tiny coarse phases) have no loss.
        loss_curves=_seed_means(epochs[epochs["clips"] > 0], "loss", unit, "loss_curves"),
        curves=_curves(evals[evals["kind"] == "curve"], metric, unit),
        time_to_target=_time_to_target(res, exp, variants[variants["variant"].isin(curved)], unit),
        target=res.curve_target(exp.id),
        lengths=_lengths(res, exp, metric, unit),
        schedule=_schedule(res, exp, variants[variants["group"] == "main"]),
        ablations=_ablations(estimates, variants),
        throughput=_throughput(_frame(res.grids, "grids", exp.id, mains), variants),
    )


def _frame(
    rows: list[dict], name: str, experiment: str | None = None, variants: set[str] | None = None
) -> pd.DataFrame:
    """The rows (of one experiment and set of variants, when given) as a frame, even if empty."""
    kept = [
        r
        for r in rows
        if (experiment is None or r["experiment"] == experiment)
        and (variants is None or r["variant"] in variants)
    ]
    return pd.DataFrame(kept, columns=list(TABLES[name]))


def _estimates(
    res: Results, exp: Experiment, variants: pd.DataFrame, metric: str, unit: TimeUnit
) -> pd.DataFrame:
    """Seed means, bootstrap CIs and measured speedups per variant, by the tables' own code."""
    rows = []
    for v in variants.to_dict("records"):
        est = res.estimate(exp.id, v["variant"], metric)
        train_s = res.mean(exp.id, v["variant"], "train_s")
        rows.append(
            {
                **v,
                "seeds": len(res.runs_of(exp.id, v["variant"])),
                "n": 0 if est is None else est.n,
                "time": math.nan if train_s is None else train_s / unit.seconds,
                "mean": math.nan if est is None else est.mean,
                "low": math.nan if est is None else est.low,
                "high": math.nan if est is None else est.high,
                "speedup": res.speedups(exp.id, v["variant"])[0],
                "sweep": v["group"] == "budget" or v["variant"] == BASELINE,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS["estimates"])).astype({"speedup": float})


def _seed_means(rows: pd.DataFrame, y: str, unit: TimeUnit, name: str) -> pd.DataFrame:
    """Seed means of ``train_s`` and ``y`` per variant and epoch, in plan order."""
    keys = ["variant", "label", "epoch"]
    mean = rows.groupby(keys, sort=False)[["train_s", y]].mean().reset_index()
    mean = mean.rename(columns={y: "value"}).assign(time=mean["train_s"] / unit.seconds)
    return mean[list(COLUMNS[name])]


def _curves(points: pd.DataFrame, metric: str, unit: TimeUnit) -> pd.DataFrame:
    """Curve points with the time in the experiment's unit and the metric as ``value``."""
    points = points.assign(time=points["train_s"] / unit.seconds, value=points[metric])
    return points[list(COLUMNS["curves"])].reset_index(drop=True)


def _time_to_target(
    res: Results, exp: Experiment, variants: pd.DataFrame, unit: TimeUnit
) -> pd.DataFrame:
    """Time to the curve target per variant with curve points, by the tables' own code."""
    rows = []
    for v in variants.to_dict("records"):
        reach = res.reach(exp.id, v["variant"])
        if reach is None:
            continue
        train_s = math.nan if reach.train_s is None else reach.train_s
        rows.append(
            {
                "variant": v["variant"],
                "label": v["label"],
                "seeds": reach.seeds,
                "reached": reach.reached,
                "train_s": train_s,
                "time": train_s / unit.seconds,
                "speedup": res.reach_speedups(exp.id, v["variant"])[0],
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS["time_to_target"]))
    return frame.astype({"train_s": float, "time": float, "speedup": float})


def _lengths(res: Results, exp: Experiment, metric: str, unit: TimeUnit) -> pd.DataFrame:
    """The sweep's measured points with the tables' estimates, by the sweep table's own code."""
    rows = []
    for p in sweep_points(res, exp):
        est = res.estimate(exp.id, p.variant, metric)
        if est is None or p.train_s is None:
            continue
        point = {"line": p.line, "variant": p.variant, "label": p.label, "epochs": p.epochs}
        time = {"seeds": len(p.runs), "n": est.n, "train_s": p.train_s}
        rows.append({**point, **time, "time": p.train_s / unit.seconds, "mean": est.mean,
                     "low": est.low, "high": est.high})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS["lengths"]))


def _ablations(estimates: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """The default's and the ablations' estimates; empty when the experiment has no ablation."""
    if not (variants["group"] == "ablation").any():
        return pd.DataFrame(columns=list(COLUMNS["ablations"]))
    default = estimates[(estimates["variant"] == DEFAULT) & (estimates["group"] == "main")]
    ablations = estimates[estimates["group"] == "ablation"]
    rows = pd.concat(
        [
            default.assign(name=default["label"] + " (default)"),
            ablations.assign(name=ablations["label"]),
        ],
        ignore_index=True,
    )
    return rows[list(COLUMNS["ablations"])]


def _throughput(grids: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """Per-run grid rows with a readable grid name and the data-wait share in percent."""
    grids = grids.assign(
        grid=[
            f"{t}{TIMES}{s}², {b}"
            for t, s, b in zip(
                grids["num_frames"], grids["crop_size"], grids["batch_size"], strict=True
            )
        ],
        wait=100 * grids["data_share"].astype(float).fillna(0.0),
    )
    grids = grids.sort_values(["batch_size", "num_frames", "crop_size"], ascending=False)
    return grids[list(COLUMNS["throughput"])].reset_index(drop=True)


def _schedule(res: Results, exp: Experiment, mains: pd.DataFrame) -> pd.DataFrame:
    """Schedule step rows of each main variant's config, computed by the schedule module."""
    runs = {r.variant: r for r in expand_runs(res.plan) if r.experiment == exp.id}
    clips = max((r["clips_per_epoch"] for r in res.runs_of(exp.id, BASELINE)), default=0)
    rows = [
        {"variant": variant, "label": label, **row}
        for variant, label in zip(mains["variant"], mains["label"], strict=True)
        for row in schedule_rows(runs[variant].resolved_config(), max(clips, 1))
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS["schedule"]))


def schedule_rows(cfg: RunConfig, clips: int) -> list[dict]:
    """Per epoch and grid of ``cfg``'s schedule: the iteration it starts at, batch and size.

    ``size`` is T·S² relative to the config's base shape; ``batch`` counts clips over all GPUs.
    Each grid's last row is repeated at the final iteration so step lines of variants compare.
    """
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
                    "grid": "full size" if index == len(grids) - 1 else f"short-cycle grid {index}",
                    "iteration": start,
                    "batch": batch * cfg.train.num_gpus,
                    "size": e.num_frames * crop**2 / base,
                }
            )
        start += iters
    last = {row["grid"]: row for row in rows}
    rows.extend({**row, "iteration": start} for row in last.values())
    return rows
