"""The collected rows of one plan and the questions tables and figures ask of them.

One reader of ``results/<plan>/*.csv`` (typed by :data:`replication.results.collect.TABLES`) for
every output, so a table's mean, CI or speedup and the figure drawn beside it are the same
numbers. Plain lists of dicts and no pandas: the tables command stays quick to start.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from replication.results.collect import ADDED_COLUMNS, NOT_RUN, TABLES
from replication.results.stats import Estimate, bootstrap_ci
from replication.results.tidy import Row, read_rows
from replication.results.time_to_accuracy import TARGET_PERCENT, Reach, final_value, reach
from replication.workflow import BASELINE, Plan


class Results:
    """The collected rows of one plan, grouped for the table and figure builders.

    ``runs`` holds the finished runs, ``planned`` every run of the plan ("not run" rows, whose
    ``status`` says so, included). Files collected by older code lack the job wall-clock: their
    ``total_s`` is ``wall_s``, with ``total_from`` 'training clock'.
    """

    def __init__(self, plan: Plan, results_dir: Path | str) -> None:
        self.plan = plan
        data = {
            name: read_rows(Path(results_dir) / f"{name}.csv", types, ADDED_COLUMNS)
            for name, types in TABLES.items()
        }
        for row in data["runs"]:
            if row["total_s"] is None and row["status"] != NOT_RUN:
                row.update(total_s=row["wall_s"], total_from="training clock")
        self.planned = data["runs"]
        self.runs = [r for r in self.planned if r["status"] != NOT_RUN]
        self.evals, self.epochs, self.grids = data["evals"], data["epochs"], data["grids"]

    def runs_of(self, experiment: str, variant: str) -> list[Row]:
        """Rows (one per finished seed) of one variant."""
        return [r for r in self.runs if r["experiment"] == experiment and r["variant"] == variant]

    def planned_of(self, experiment: str, variant: str | None = None) -> list[Row]:
        """Rows of every planned run of an experiment (or of one variant), finished or not."""
        return [
            r
            for r in self.planned
            if r["experiment"] == experiment and variant in (None, r["variant"])
        ]

    def variants(self, experiment: str, groups: Sequence[str]) -> list[tuple[str, str]]:
        """``(variant, label)`` of an experiment in plan order, restricted to ``groups``.

        Variants none of whose runs finished are listed too (the tables say "not run").
        """
        seen: dict[str, str] = {}
        for r in self.planned:
            if r["experiment"] == experiment and r["group"] in groups:
                seen.setdefault(r["variant"], r["label"])
        return list(seen.items())

    def not_run(self, experiment: str) -> list[str]:
        """Labels of the experiment's variants none of whose runs finished, in plan order."""
        labels = {r["variant"]: r["label"] for r in self.planned_of(experiment)}
        return [lab for v, lab in labels.items() if not self.runs_of(experiment, v)]

    def metrics(self, experiment: str) -> list[str]:
        """Metrics the experiment's runs report: ['mAP'] or ['top1', 'top5']."""
        rows = [r for r in self.runs if r["experiment"] == experiment]
        return ["mAP"] if any(r["mAP"] is not None for r in rows) else ["top1", "top5"]

    def estimate(self, experiment: str, variant: str, column: str) -> Estimate | None:
        """Mean and bootstrap CI of ``column`` over the variant's seeds."""
        values = [r[column] for r in self.runs_of(experiment, variant) if r[column] is not None]
        if not values:
            return None
        return bootstrap_ci(
            values, resamples=self.plan.bootstrap_resamples, seed=self.plan.bootstrap_seed
        )

    def mean(self, experiment: str, variant: str, column: str) -> float | None:
        """Seed mean of a column (None when no run has it)."""
        values = [r[column] for r in self.runs_of(experiment, variant) if r[column] is not None]
        return sum(values) / len(values) if values else None

    def speedup(self, experiment: str, variant: str, column: str) -> float | None:
        """Baseline seed mean of ``column`` over the variant's (None when either is missing)."""
        base, this = self.mean(experiment, BASELINE, column), self.mean(experiment, variant, column)
        return base / this if base and this else None

    def speedups(self, experiment: str, variant: str) -> tuple[float | None, float | None]:
        """(measured in the training loop, theoretical) speedup over the experiment's baseline."""
        return self.speedup(experiment, variant, "train_s"), self.speedup(
            experiment, variant, "train_gflops"
        )

    def curve_target(self, experiment: str) -> float | None:
        """``TARGET_PERCENT`` % of the baseline's final curve metric; None without its points."""
        final = final_value(self.evals, experiment, BASELINE, self.metrics(experiment)[0])
        return None if final is None else final * TARGET_PERCENT / 100

    def reach(self, experiment: str, variant: str) -> Reach | None:
        """When the variant's seeds first reach the curve target; None without curve points."""
        target = self.curve_target(experiment)
        if target is None:
            return None
        return reach(self.evals, experiment, variant, self.metrics(experiment)[0], target)

    def reach_speedups(self, experiment: str, variant: str) -> tuple[float | None, float | None]:
        """Baseline over variant time to the curve target: (training loop, job clock)."""
        base, this = self.reach(experiment, BASELINE), self.reach(experiment, variant)
        if base is None or this is None:
            return None, None
        train = base.train_s / this.train_s if base.train_s and this.train_s else None
        total = base.total_s / this.total_s if base.total_s and this.total_s else None
        return train, total
