"""The paper's tables from the collected CSVs: main, ablations, throughput, claims, runs.

Every number comes from our runs (``results/<plan>/*.csv``) except the claims table's reported
values, which come from :mod:`replication.results.claims` with their sources. Accuracies are the
mean over seeds with a seeded 95 % bootstrap CI; speedups are ratios of seed means against the
experiment's baseline: *train* compares training-loop wall-clock, *total* the job's wall-clock
from process start to summary, *theoretical* the training FLOPs the runs counted (fvcore,
forward + backward = 3x forward); efficiency is a measured speedup over the theoretical one.
A planned variant or experiment none of whose runs finished reads "not run". The rows are read
and queried by :class:`replication.results.query.Results` (importable from here too), the same
layer the figures' frames use.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from replication.io.atomic import atomic_folder, atomic_write_text
from replication.results.cells import (
    clock_note,
    estimate_text,
    hardware,
    not_run_note,
    seeds_text,
)
from replication.results.claims import claims_table
from replication.results.formats import (
    NONE,
    NOT_RUN,
    Table,
    num,
    ratio,
    sig,
    to_latex,
    to_markdown,
    to_table_csv,
)
from replication.results.query import Results
from replication.results.sweep import sweep_table
from replication.results.time_to_accuracy import TARGET_PERCENT, curve_note, reach_text
from replication.results.units import METRIC_NAMES, TIMES, time_unit
from replication.workflow import Experiment

# --------------------------------------------------------------------------- formatting


def _flop_unit(values: Sequence[float]) -> tuple[str, float]:
    """The largest unit (of GFLOP) that keeps the biggest value at least 1."""
    top = max(values, default=0.0)
    for name, scale in (("EFLOP", 1e9), ("PFLOP", 1e6), ("TFLOP", 1e3)):
        if top >= scale:
            return name, scale
    return "GFLOP", 1.0


# --------------------------------------------------------------------------- tables


def main_table(res: Results, exp: Experiment) -> Table:
    """Baseline, the multigrid variants and the budget-matched baselines of one experiment."""
    variants = res.variants(exp.id, ("main", "budget"))
    every = [r for v, _ in variants for r in res.runs_of(exp.id, v)]
    flop_name, flop_scale = _flop_unit([r["train_gflops"] for r in every])
    unit = time_unit([r[c] for r in every for c in ("train_s", "total_s")])
    kind = "/".join(sorted({r["device_kind"] for r in every})) or "Device"
    metrics, x = res.metrics(exp.id), TARGET_PERCENT
    rows = []
    for variant, label in variants:
        seeds = seeds_text(res, exp.id, variant)
        if seeds == NOT_RUN:
            rows.append((label, seeds, *[NONE] * (14 + len(metrics))))
            continue
        rows.append(
            (label, seeds, *_main_cells(res, exp, variant, flop_scale, unit.seconds, metrics))
        )
    return Table(
        id=f"{exp.id}_main",
        title=f"{exp.title}: baseline vs multigrid",
        caption=(
            "Means over seeds; accuracy is the final multi-view test, mean ± half-width of the "
            "95 % bootstrap CI over seeds (one seed: no interval). Train time is the training "
            "loop's wall-clock (no evaluation); total time is the job's, from process start to "
            "summary (start-up, data set, FLOP counting, evaluations, precise BN, checkpoints "
            "and the final test included; curve evaluations left out, as is a frame-cache "
            "build, once per data set). Speedups are baseline "
            "over variant: train and total in those times, theoretical in counted training "
            "FLOPs; efficiency is a measured speedup over the theoretical one. Budget-matched "
            f"baselines train fewer epochs. Time to {x} % of baseline: training-loop time at "
            "the first curve point (one view at the test shape, at the same fractions of the "
            f"baseline's compute for every variant) reaching {x} % of the baseline's final "
            "curve accuracy (mean over its seeds of their last point); no interpolation, so "
            "it is as fine as the points are spaced. Mean over the seeds that reach it ('k of "
            "n' when not all do); its speedups are baseline over variant in loop time (train) "
            "and job clock without curve evaluations (total); "
            f"{NONE}: runs without curve points. "
            f"Hardware: {hardware(every)}."
        ),
        columns=(
            "Variant",
            "Seeds",
            "Epochs",
            "Iterations",
            f"Train {flop_name}",
            f"Train time ({unit.symbol})",
            f"Total time ({unit.symbol})",
            f"{kind}-hours",
            "Speedup train",
            "Speedup total",
            "Speedup theoretical",
            "Efficiency train",
            "Efficiency total",
            *(METRIC_NAMES[m] for m in metrics),
            f"Time to {x} % of baseline ({unit.symbol})",
            f"Speedup to {x} % train",
            f"Speedup to {x} % total",
        ),
        rows=tuple(rows),
        notes=not_run_note(res, exp) + clock_note(every) + _curve_note(res, exp, variants),
    )


def _main_cells(
    res: Results,
    exp: Experiment,
    variant: str,
    flop_scale: float,
    unit_s: float,
    metrics: Sequence[str],
) -> tuple[str, ...]:
    """One finished variant's cells of the main table, after its label and seeds."""
    mean = partial(res.mean, exp.id, variant)
    loop, total = res.speedup(exp.id, variant, "train_s"), res.speedup(exp.id, variant, "total_s")
    theory = res.speedup(exp.id, variant, "train_gflops")
    to_target = res.reach_speedups(exp.id, variant)
    return (
        num(mean("epochs"), 0),
        num(mean("iterations"), 0),
        num(ratio(mean("train_gflops"), flop_scale), 2),
        num(ratio(mean("train_s"), unit_s), 1),
        num(ratio(mean("total_s"), unit_s), 1),
        sig(mean("device_hours")),
        num(loop, 2, TIMES),
        num(total, 2, TIMES),
        num(theory, 2, TIMES),
        num(ratio(loop, theory), 2),
        num(ratio(total, theory), 2),
        *(estimate_text(res.estimate(exp.id, variant, m)) for m in metrics),
        reach_text(res.reach(exp.id, variant), unit_s),
        *(num(s, 2, TIMES) for s in to_target),
    )


def _curve_note(res: Results, exp: Experiment, variants: list[tuple[str, str]]) -> tuple[str, ...]:
    return curve_note({lab: res.runs_of(exp.id, v) for v, lab in variants})


def ablation_table(res: Results, exp: Experiment) -> Table | None:
    """Ablations of long + short cycle, each against the default (long_short)."""
    ablations = res.variants(exp.id, ("ablation",))
    if not ablations:
        return None
    reference = [(v, f"{lab} (default)") for v, lab in res.variants(exp.id, ("main",))]
    reference = [(v, lab) for v, lab in reference if v == "long_short"]
    metric = res.metrics(exp.id)[0]
    base = res.mean(exp.id, "long_short", metric)
    every = [r for v, _ in reference + ablations for r in res.runs_of(exp.id, v)]
    unit = time_unit([r[c] for r in every for c in ("train_s", "total_s")])
    rows = []
    for variant, label in reference + ablations:
        seeds = seeds_text(res, exp.id, variant)
        if seeds == NOT_RUN:
            rows.append((label, seeds, *[NONE] * 9))
            continue
        this = res.mean(exp.id, variant, metric)
        delta = None if base is None or this is None else this - base
        rows.append(
            (
                label,
                seeds,
                num(res.mean(exp.id, variant, "epochs"), 0),
                num(res.mean(exp.id, variant, "iterations"), 0),
                num(ratio(res.mean(exp.id, variant, "train_s"), unit.seconds), 1),
                num(ratio(res.mean(exp.id, variant, "total_s"), unit.seconds), 1),
                num(res.speedup(exp.id, variant, "train_s"), 2, TIMES),
                num(res.speedup(exp.id, variant, "total_s"), 2, TIMES),
                num(res.speedup(exp.id, variant, "train_gflops"), 2, TIMES),
                estimate_text(res.estimate(exp.id, variant, metric)),
                NONE if delta is None else f"{delta:+.1f}",
            )
        )
    name = METRIC_NAMES[metric]
    return Table(
        id=f"{exp.id}_ablations",
        title=f"{exp.title}: ablations of long + short cycle",
        caption=(
            f"Each row changes one setting of long + short cycle. Train time is the training "
            f"loop's, total time the job's (as in the main table); speedups are over the "
            f"baseline; Δ is the {name.split(' ')[0]} difference to the default's seed mean "
            f"(in points). Rows with one seed have no interval. Hardware: {hardware(every)}."
        ),
        columns=(
            "Variant",
            "Seeds",
            "Epochs",
            "Iterations",
            f"Train time ({unit.symbol})",
            f"Total time ({unit.symbol})",
            "Speedup train",
            "Speedup total",
            "Speedup theoretical",
            name,
            f"Δ {name.split(' ')[0]}",
        ),
        rows=tuple(rows),
        notes=clock_note(every),
    )


def throughput_table(res: Results, exp: Experiment) -> Table:
    """Clips per second and data-wait share per grid (T, crop, batch), seed means."""
    rows = []
    for variant, label in res.variants(exp.id, ("main", "ablation")):
        grids = [g for g in res.grids if g["experiment"] == exp.id and g["variant"] == variant]
        keys = sorted(
            {(g["num_frames"], g["crop_size"], g["batch_size"]) for g in grids},
            key=lambda k: (-k[2], k[0], k[1]),
        )
        for key in keys:
            same = [g for g in grids if (g["num_frames"], g["crop_size"], g["batch_size"]) == key]
            speed = [g["clips_per_s"] for g in same if g["clips_per_s"] is not None]
            share = [g["data_share"] for g in same if g["data_share"] is not None]
            rows.append(
                (
                    label,
                    str(key[0]),
                    str(key[1]),
                    str(key[2]),
                    str(sum(g["logged_steps"] for g in same)),
                    num(sum(speed) / len(speed) if speed else None, 1),
                    num(100 * sum(share) / len(share) if share else None, 1),
                )
            )
    devices = [r for r in res.runs if r["experiment"] == exp.id]
    return Table(
        id=f"{exp.id}_throughput",
        title=f"{exp.title}: throughput per grid",
        caption=(
            "From the logged training steps (each run's first step, which waits for loader "
            "start-up, left out): clips per second of data wait + compute, and the share of "
            f"that time spent waiting for data; means over seeds. Hardware: {hardware(devices)}."
        ),
        columns=(
            "Variant",
            "Frames",
            "Crop (px)",
            "Batch (clips)",
            "Logged steps",
            "Clips/s",
            "Data wait (%)",
        ),
        rows=tuple(rows),
    )


def runs_table(res: Results) -> Table:
    """Every run, one row per seed, with its provenance: where each mean comes from."""
    rows = []
    for r in res.planned:
        if r["status"] == NOT_RUN:
            rows.append((r["run_id"], NOT_RUN, *[NONE] * 8))
            continue
        metric = "mAP" if r["mAP"] is not None else "top1"
        rows.append(
            (
                r["run_id"],
                str(r["epochs"]),
                str(r["iterations"]),
                num(r["train_s"], 1),
                num(r["total_s"], 1),
                num(r[metric], 1),
                metric,
                r["device"],
                (r["git_sha"] or "")[:10] + ("-dirty" if r["git_dirty"] else ""),
                r["config_hash"],
            )
        )
    return Table(
        id="runs",
        title="Every run",
        caption=(
            "One row per planned run: training-loop and total (job, curve evaluations left "
            "out: runs.csv's curve_s) time, final test metric, "
            "hardware, the commit that trained it and the hash of its resolved config "
            "(config.json in the run folder); 'not run' where no summary.json was collected."
        ),
        columns=(
            "Run",
            "Epochs",
            "Iterations",
            "Train time (s)",
            "Total time (s)",
            "Metric",
            "Name",
            "Hardware",
            "Commit",
            "Config",
        ),
        rows=tuple(rows),
        align="lrrrrrllll",
        notes=clock_note(res.runs),
    )


def build_tables(res: Results) -> list[Table]:
    """All tables of a plan, in reading order."""
    tables: list[Table] = []
    for exp in res.plan.experiments:
        tables.append(main_table(res, exp))  # an experiment that has not run: says so
        if not any(r["experiment"] == exp.id for r in res.runs):
            continue
        for extra in (sweep_table(res, exp), ablation_table(res, exp)):
            if extra is not None:
                tables.append(extra)
        tables.append(throughput_table(res, exp))
    tables.append(claims_table(res))
    tables.append(runs_table(res))
    return tables


def write_tables(tables: Sequence[Table], out_dir: Path | str, index_title: str) -> Path:
    """Write each table as .md, .csv and .tex, then the index README.md (last, the marker).

    Everything goes to a temporary folder first and is moved into place only when all of it
    rendered, so a failure leaves the previous tables untouched.
    """
    out_dir = Path(out_dir)
    index = [f"# {index_title}", "", "Generated by `snakemake tables`; do not edit.", ""]
    with atomic_folder(out_dir) as tmp:
        for table in tables:
            (tmp / f"{table.id}.md").write_text(to_markdown(table), encoding="utf-8")
            (tmp / f"{table.id}.csv").write_text(to_table_csv(table), encoding="utf-8")
            (tmp / f"{table.id}.tex").write_text(to_latex(table), encoding="utf-8")
            ran = any(row[1] != NOT_RUN for row in table.rows)
            index.append(
                f"- [{table.title}]({table.id}.md) ([CSV]({table.id}.csv), [LaTeX]({table.id}.tex))"
                + ("" if ran else f": {NOT_RUN}")
            )
    marker = out_dir / "README.md"
    atomic_write_text(marker, "\n".join(index) + "\n")
    print(f"wrote {len(tables)} tables to {out_dir}", file=sys.stderr)
    return marker
