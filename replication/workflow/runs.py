"""A plan's runs: every (experiment, variant, seed) with its config, overrides and run folder.

Every run is the experiment's YAML plus ``--set`` overrides, so a run is reproducible from its
command line alone. Budget-matched baselines (Wu et al. 2020 compare multigrid with a baseline
given the same training time) are derived here: the baseline with ``solver.max_epoch`` and the LR
steps scaled by each fraction in ``budget_fractions``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replication.config import RunConfig, load_config
from replication.workflow.records import BASELINE, Experiment, Plan, PlanError, Variant

RUN_ID = "{experiment}/{variant}-s{seed}"  # a run's id within its plan
RUN_DIR = "{plan}/" + RUN_ID  # its folder below the runs root


@dataclass(frozen=True)
class Run:
    """One training run of the plan."""

    plan: str
    experiment: str
    variant: str
    label: str
    group: str  # main, budget or ablation
    seed: int
    config: str
    overrides: tuple[str, ...]
    dataset: str
    slurm_profile: str | None = None  # the experiment's own SLURM profile; None: the plan's

    @property
    def wildcards(self) -> dict[str, Any]:
        """The values that fill :data:`RUN_ID` and :data:`RUN_DIR` (Snakemake's wildcards)."""
        return {"plan": self.plan, "experiment": self.experiment, "variant": self.variant,
                "seed": self.seed}  # fmt: skip

    @property
    def run_id(self) -> str:
        """``<experiment>/<variant>-s<seed>``, unique within the plan."""
        return RUN_ID.format(**self.wildcards)

    def run_dir(self, runs_root: Path | str = "runs") -> Path:
        """The run folder (its files: :class:`replication.io.RunPaths`)."""
        return Path(runs_root) / RUN_DIR.format(**self.wildcards)

    def resolved_config(self) -> RunConfig:
        """The run's validated config."""
        return load_config(self.config, self.overrides)


def run_dir_pattern(runs_root: Path | str = "runs") -> Path:
    """Every run folder as one pattern with the wildcards plan, experiment, variant and seed."""
    return Path(runs_root) / RUN_DIR


def available(variant: Variant) -> bool:
    """Whether this version of the config knows the key the variant needs."""
    if variant.requires_key is None:
        return True
    section, _, name = variant.requires_key.partition(".")
    field = RunConfig.model_fields.get(section)
    return field is not None and name in getattr(field.annotation, "model_fields", {})


def skipped_variants(plan: Plan) -> list[str]:
    """``experiment/variant`` of variants left out because their config key does not exist yet."""
    return [f"{e.id}/{v.name}" for e in plan.experiments for v in e.variants if not available(v)]


def expand_runs(plan: Plan) -> list[Run]:
    """Every run of the plan, in plan order (experiment, variant, seed)."""
    runs = []
    for exp in plan.experiments:
        data = plan.datasets[exp.dataset].overrides()
        for variant in exp.variants:
            if not available(variant):
                continue
            for seed in variant.seeds or plan.seeds:
                runs.append(
                    Run(
                        plan=plan.name,
                        experiment=exp.id,
                        variant=variant.name,
                        label=variant.label or variant.name,
                        group=variant.group,
                        seed=seed,
                        config=variant.config or exp.config,
                        overrides=(*data, *exp.set, *variant.set, f"train.seed={seed}"),
                        dataset=exp.dataset,
                        slurm_profile=exp.slurm_profile,
                    )
                )
        runs.extend(_budget_runs(plan, exp, data))
    return runs


def _budget_runs(plan: Plan, exp: Experiment, data: list[str]) -> list[Run]:
    if not exp.budget_fractions:
        return []
    base = next(v for v in exp.variants if v.name == BASELINE)
    base_config = base.config or exp.config
    base_sets = (*data, *exp.set, *base.set)
    solver = load_config(base_config, base_sets).solver
    runs = []
    for fraction in exp.budget_fractions:
        epochs = max(1, round(solver.max_epoch * fraction))
        steps = [round(s * fraction) for s in solver.steps]
        if len(set(steps)) != len(steps) or steps[-1] >= epochs:
            raise PlanError(
                f"experiments[{exp.id}]: budget fraction {fraction} squeezes the LR steps "
                f"{list(solver.steps)} into {steps} over {epochs} epochs; use a larger fraction"
            )
        sets = (
            f"solver.max_epoch={epochs}",
            f"solver.steps={steps}",
            f"solver.warmup_epochs={solver.warmup_epochs * fraction:g}",
        )
        for seed in exp.budget_seeds or base.seeds or plan.seeds:
            runs.append(
                Run(
                    plan=plan.name,
                    experiment=exp.id,
                    variant=f"{BASELINE}_e{epochs}",
                    label=f"baseline, {epochs} epochs",
                    group="budget",
                    seed=seed,
                    config=base_config,
                    overrides=(*base_sets, *sets, f"train.seed={seed}"),
                    dataset=exp.dataset,
                    slurm_profile=exp.slurm_profile,
                )
            )
    return runs


def config_hash(config: Mapping[str, Any]) -> str:
    """Short content hash of a resolved config (provenance column of every result row)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
