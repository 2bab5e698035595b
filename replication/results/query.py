"""The collected rows of one plan and the questions tables and figures ask of them.

One reader of ``results/<plan>/*.csv`` (typed by :data:`replication.results.collect.TABLES`) for
every output, so a table's mean, CI or speedup and the figure drawn beside it are the same
numbers. Plain lists of dicts and no pandas: the tables command stays quick to start.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from replication.results.collect import TABLES
from replication.results.stats import Estimate, bootstrap_ci
from replication.results.tidy import Row, read_rows
from replication.workflow import BASELINE, Plan


class Results:
    """The collected rows of one plan, grouped for the table and figure builders."""

    def __init__(self, plan: Plan, results_dir: Path | str) -> None:
        self.plan = plan
        data = {name: read_rows(Path(results_dir) / f"{name}.csv", t) for name, t in TABLES.items()}
        self.runs, self.evals = data["runs"], data["evals"]
        self.epochs, self.grids = data["epochs"], data["grids"]

    def runs_of(self, experiment: str, variant: str) -> list[Row]:
        """Rows (one per seed) of one variant."""
        return [r for r in self.runs if r["experiment"] == experiment and r["variant"] == variant]

    def variants(self, experiment: str, groups: Sequence[str]) -> list[tuple[str, str]]:
        """``(variant, label)`` of an experiment in plan order, restricted to ``groups``."""
        seen: dict[str, str] = {}
        for r in self.runs:
            if r["experiment"] == experiment and r["group"] in groups:
                seen.setdefault(r["variant"], r["label"])
        return list(seen.items())

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

    def speedups(self, experiment: str, variant: str) -> tuple[float | None, float | None]:
        """(measured, theoretical) speedup of a variant over the experiment's baseline."""
        out = []
        for column in ("train_s", "train_gflops"):
            base, this = (
                self.mean(experiment, BASELINE, column),
                self.mean(experiment, variant, column),
            )
            out.append(base / this if base and this else None)
        return out[0], out[1]
