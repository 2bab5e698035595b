"""The paper's tables from the collected CSVs: main, ablations, throughput, claims, runs.

Every number comes from our runs (``results/<plan>/*.csv``) except the claims table's reported
values, which come from :mod:`replication.results.claims` with their sources. Accuracies are the
mean over seeds with a seeded 95 % bootstrap CI; speedups are ratios of seed means against the
experiment's baseline: *measured* compares training-loop wall-clock, *theoretical* compares the
training FLOPs the runs counted (fvcore, forward + backward = 3x forward). The rows are read
and queried by :class:`replication.results.query.Results` (importable from here too), the same
layer the figures' frames use.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from replication.io.atomic import atomic_folder, atomic_write_text
from replication.results.claims import CLAIMS, Claim
from replication.results.formats import Table, to_latex, to_markdown, to_table_csv
from replication.results.query import Results
from replication.results.stats import Estimate
from replication.results.tidy import Row
from replication.results.units import METRIC_NAMES, TIMES, time_unit
from replication.workflow import BASELINE, Experiment

NONE = "\u2013"  # en dash: no value


# --------------------------------------------------------------------------- formatting


def _num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return NONE if value is None else f"{value:,.{digits}f}{suffix}"


def _sig(value: float | None, digits: int = 3) -> str:
    """Significant digits, for quantities spanning many orders (device-hours)."""
    return NONE if value is None else f"{value:.{digits}g}"


def _flop_unit(values: Sequence[float]) -> tuple[str, float]:
    """The largest unit (of GFLOP) that keeps the biggest value at least 1."""
    top = max(values, default=0.0)
    for name, scale in (("EFLOP", 1e9), ("PFLOP", 1e6), ("TFLOP", 1e3)):
        if top >= scale:
            return name, scale
    return "GFLOP", 1.0


def _hardware(rows: Sequence[Row]) -> str:
    return " / ".join(sorted({r["device"] for r in rows}))


def _seeds(rows: Sequence[Row]) -> str:
    return str(len(rows))


# --------------------------------------------------------------------------- tables


def main_table(res: Results, exp: Experiment) -> Table:
    """Baseline, the multigrid variants and the budget-matched baselines of one experiment."""
    variants = res.variants(exp.id, ("main", "budget"))
    rows_of = {v: res.runs_of(exp.id, v) for v, _ in variants}
    every = [r for rows in rows_of.values() for r in rows]
    flop_name, flop_scale = _flop_unit([r["train_gflops"] for r in every])
    unit = time_unit([r["train_s"] for r in every])
    kind = "/".join(sorted({r["device_kind"] for r in every}))
    metrics = res.metrics(exp.id)
    columns = (
        "Variant",
        "Seeds",
        "Epochs",
        "Iterations",
        f"Train {flop_name}",
        f"Train time ({unit.symbol})",
        f"{kind}-hours",
        "Speedup measured",
        "Speedup theoretical",
        *(METRIC_NAMES[m] for m in metrics),
    )
    rows = []
    for variant, label in variants:
        measured, theory = res.speedups(exp.id, variant)
        rows.append(
            (
                label,
                _seeds(rows_of[variant]),
                _num(res.mean(exp.id, variant, "epochs"), 0),
                _num(res.mean(exp.id, variant, "iterations"), 0),
                _num((res.mean(exp.id, variant, "train_gflops") or 0) / flop_scale, 2),
                _num((res.mean(exp.id, variant, "train_s") or 0) / unit.seconds, 1),
                _sig(res.mean(exp.id, variant, "device_hours")),
                _num(measured, 2, TIMES),
                _num(theory, 2, TIMES),
                *(_estimate(res.estimate(exp.id, variant, m)) for m in metrics),
            )
        )
    return Table(
        id=f"{exp.id}_main",
        title=f"{exp.title}: baseline vs multigrid",
        caption=(
            "Means over seeds; accuracy is the final multi-view test, mean ± half-width of the "
            "95 % bootstrap CI over seeds (one seed: no interval). Train time is the training "
            "loop's wall-clock (no evaluation); speedups are baseline over variant: measured in "
            "train time, theoretical in counted training FLOPs. Budget-matched baselines train "
            f"fewer epochs. Hardware: {_hardware(every)}."
        ),
        columns=columns,
        rows=tuple(rows),
    )


def _estimate(est: Estimate | None) -> str:
    return NONE if est is None else est.text(1)


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
    unit = time_unit([r["train_s"] for r in every])
    rows = []
    for variant, label in reference + ablations:
        measured, theory = res.speedups(exp.id, variant)
        this = res.mean(exp.id, variant, metric)
        delta = None if base is None or this is None else this - base
        rows.append(
            (
                label,
                _seeds(res.runs_of(exp.id, variant)),
                _num(res.mean(exp.id, variant, "epochs"), 0),
                _num(res.mean(exp.id, variant, "iterations"), 0),
                _num((res.mean(exp.id, variant, "train_s") or 0) / unit.seconds, 1),
                _num(measured, 2, TIMES),
                _num(theory, 2, TIMES),
                _estimate(res.estimate(exp.id, variant, metric)),
                NONE if delta is None else f"{delta:+.1f}",
            )
        )
    name = METRIC_NAMES[metric]
    return Table(
        id=f"{exp.id}_ablations",
        title=f"{exp.title}: ablations of long + short cycle",
        caption=(
            f"Each row changes one setting of long + short cycle. Speedups are over the "
            f"baseline; Δ is the {name.split(' ')[0]} difference to the default's seed mean "
            f"(in points). Rows with one seed have no interval. Hardware: {_hardware(every)}."
        ),
        columns=(
            "Variant",
            "Seeds",
            "Epochs",
            "Iterations",
            f"Train time ({unit.symbol})",
            "Speedup measured",
            "Speedup theoretical",
            name,
            f"Δ {name.split(' ')[0]}",
        ),
        rows=tuple(rows),
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
                    _num(sum(speed) / len(speed) if speed else None, 1),
                    _num(100 * sum(share) / len(share) if share else None, 1),
                )
            )
    devices = [r for r in res.runs if r["experiment"] == exp.id]
    return Table(
        id=f"{exp.id}_throughput",
        title=f"{exp.title}: throughput per grid",
        caption=(
            "From the logged training steps (each run's first step, which waits for loader "
            "start-up, left out): clips per second of data wait + compute, and the share of "
            f"that time spent waiting for data; means over seeds. Hardware: {_hardware(devices)}."
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


def claims_table(res: Results) -> Table:
    """Each reported number beside ours from the experiment that stands in for it."""
    rows = []
    for claim in CLAIMS:
        exps = [e for e in res.plan.experiments if e.compare_with == claim.group]
        if not exps:
            rows.append((claim.group, claim.what, _reported(claim), claim.source, "not run", NONE))
            continue
        for exp in exps:
            rows.append(
                (
                    claim.group,
                    claim.what,
                    _reported(claim),
                    claim.source,
                    _ours(res, exp, claim),
                    exp.id,
                )
            )
    return Table(
        id="claims",
        title="Reported numbers beside ours",
        caption=(
            "Reported: from the paper's abstract, PySlowFast's MODEL_ZOO re-implementation and "
            "other sources as named (the paper's tables were not available). Ours: the "
            "experiment of this plan that compares with the claim's setting; a smoke "
            "experiment on synthetic data only stands in for it, so its numbers check the "
            "mechanics (speedup, direction of accuracy change), not the paper's values."
        ),
        columns=("Setting", "Claim", "Reported", "Source", "Ours", "Our experiment"),
        rows=tuple(rows),
        align="llrlrl",
    )


def _reported(claim: Claim) -> str:
    if claim.quantity == "speedup":
        return f"{claim.value:.1f}{TIMES}"
    if claim.quantity == "delta":
        return f"{claim.value:+.1f}"
    return f"{claim.value:.1f}"


def _ours(res: Results, exp: Experiment, claim: Claim) -> str:
    if claim.quantity == "speedup":
        measured, _ = res.speedups(exp.id, claim.variant)
        return _num(measured, 2, TIMES)
    metric = claim.metric if claim.metric in res.metrics(exp.id) else None
    if metric is None:
        return NONE
    if claim.quantity == "delta":
        this, base = res.mean(exp.id, claim.variant, metric), res.mean(exp.id, BASELINE, metric)
        return NONE if this is None or base is None else f"{this - base:+.1f}"
    return _estimate(res.estimate(exp.id, claim.variant, metric))


def runs_table(res: Results) -> Table:
    """Every run, one row per seed, with its provenance: where each mean comes from."""
    rows = []
    for r in res.runs:
        metric = "mAP" if r["mAP"] is not None else "top1"
        rows.append(
            (
                r["run_id"],
                str(r["epochs"]),
                str(r["iterations"]),
                _num(r["train_s"], 1),
                _num(r[metric], 1),
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
            "One row per run: training-loop time, final test metric, hardware, the commit "
            "that trained it and the hash of its resolved config (config.json in the run folder)."
        ),
        columns=(
            "Run",
            "Epochs",
            "Iterations",
            "Train time (s)",
            "Metric",
            "Name",
            "Hardware",
            "Commit",
            "Config",
        ),
        rows=tuple(rows),
        align="lrrrrllll",
    )


def build_tables(res: Results) -> list[Table]:
    """All tables of a plan, in reading order."""
    tables: list[Table] = []
    for exp in res.plan.experiments:
        tables.append(main_table(res, exp))
        ablations = ablation_table(res, exp)
        if ablations is not None:
            tables.append(ablations)
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
            index.append(
                f"- [{table.title}]({table.id}.md) ([CSV]({table.id}.csv), [LaTeX]({table.id}.tex))"
            )
    marker = out_dir / "README.md"
    atomic_write_text(marker, "\n".join(index) + "\n")
    print(f"wrote {len(tables)} tables to {out_dir}", file=sys.stderr)
    return marker
