"""A plan's runs: every (experiment, variant, seed) with its config, overrides and run folder.

Every run is the experiment's YAML plus ``--set`` overrides, so a run is reproducible from its
command line alone. Budget-matched baselines (Wu et al. 2020 compare multigrid with a baseline
given the same training time) are derived here: the baseline with ``solver.max_epoch`` and the LR
steps scaled by each fraction in ``budget_fractions``. So are fine-tunes (``init_from``): a run
names its source run, and its config starts from the source's folder (``train.init_weights``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from replication.config import RunConfig, load_config
from replication.workflow.records import (
    BASELINE,
    CURVED_GROUPS,
    Experiment,
    InitFrom,
    Plan,
    PlanError,
    Variant,
)

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
    init_from: str | None = None  # run id of the run whose final weights start this one

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
    """Every run of the plan, in plan order (experiment, variant, seed).

    Raises:
        PlanError: a fine-tune names a run the plan does not have, or sources form a circle.
    """
    return _with_sources(_expand(plan))


def _expand(plan: Plan) -> list[Run]:
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
                        overrides=(
                            *data,
                            *exp.set,
                            *_curves_off(variant.group),
                            *variant.set,
                            f"train.seed={seed}",
                        ),
                        dataset=exp.dataset,
                        slurm_profile=exp.slurm_profile,
                        init_from=_source(variant.init_from or exp.init_from, variant.name, seed),
                    )
                )
        runs.extend(_budget_runs(plan, exp, data))
    return runs


def training_order(runs: Sequence[Run]) -> list[Run]:
    """``runs`` by seed first, then in plan order: every variant's seed 0, then their seed 1...

    A 2-core VM's speed drifts over a 25-minute ``make tables``; run in Snakemake's own order
    (all baseline seeds late, say) the drift fell on some variants more than others, and the
    same code measured long + short at 2.57x and 3.30x. One block of every variant per seed
    spreads it over all of them alike. Fine-tunes still wait for their sources (Snakemake).
    """
    return sorted(runs, key=lambda run: run.seed)  # stable: plan order within a seed


def _curves_off(group: str) -> tuple[str, ...]:
    """No curve evaluations for a group nothing reads them from (a variant may set them back)."""
    return () if group in CURVED_GROUPS else ("train.curve_fractions=[]",)


def _source(spec: InitFrom | None, variant: str, seed: int) -> str | None:
    """The run id ``spec`` names for a run of ``variant`` and ``seed`` (None: from scratch)."""
    if spec is None:
        return None
    return RUN_ID.format(
        experiment=spec.experiment,
        variant=spec.variant or variant,
        seed=seed if spec.seed is None else spec.seed,
    )


def _with_sources(runs: list[Run]) -> list[Run]:
    """Fine-tunes with ``train.init_weights`` set to their source's folder, sources checked."""
    by_id = {run.run_id: run for run in runs}
    out = []
    for run in runs:
        if run.init_from is None:
            out.append(run)
            continue
        chain, source = [run.run_id], by_id.get(run.init_from)
        while source is not None and source.run_id not in chain:
            chain.append(source.run_id)
            source = by_id.get(source.init_from) if source.init_from else None
        if source is not None:
            raise PlanError(
                f"experiments[{run.experiment}]: init_from goes round in a circle: "
                f"{' -> '.join([*chain, source.run_id])}"
            )
        if run.init_from not in by_id:
            raise PlanError(
                f"experiments[{run.experiment}]: run {run.run_id} fine-tunes from "
                f"{run.init_from}, which the plan does not have (set init_from's variant or seed)"
            )
        weights = f"train.init_weights={by_id[run.init_from].run_dir()}"
        out.append(replace(run, overrides=(*run.overrides, weights)))
    return out


def with_sources(chosen: list[Run], every: list[Run]) -> list[Run]:
    """``chosen`` and every run they fine-tune from (their sources' sources too), plan order."""
    by_id = {run.run_id: run for run in every}
    needed = {run.run_id for run in chosen}
    todo = [run.init_from for run in chosen if run.init_from]
    while todo:
        run_id = todo.pop()
        if run_id not in needed:
            needed.add(run_id)
            todo.extend([by_id[run_id].init_from] if by_id[run_id].init_from else [])
    return [run for run in every if run.run_id in needed]


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
            f"train.curve_baseline_epochs={solver.max_epoch}",  # curve points of the full one
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
                    init_from=_source(base.init_from or exp.init_from, BASELINE, seed),
                )
            )
    return runs


def config_hash(config: Mapping[str, Any]) -> str:
    """Short content hash of a resolved config (provenance column of every result row)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
