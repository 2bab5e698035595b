"""The experiment plan: which runs the workflow trains, with which overrides, and where they live.

A plan is the workflow config (``config/config.yaml`` for the smoke replication,
``config/paper.yaml`` for the paper): data sets, experiments (one per model and data set), and
per experiment its variants (baseline, long, short, long + short, ablations) and seeds. Every
run is the experiment's YAML plus ``--set`` overrides, so a run is reproducible from its command
line alone. Loading a plan validates every run's resolved config up front, so a typo in a
variant fails ``snakemake -n`` with one line naming the experiment and variant, not a training
job an hour in.

Budget-matched baselines (Wu et al. 2020 compare multigrid with a baseline given the same
training time) are derived here: the baseline with ``solver.max_epoch`` and the LR steps scaled
by each fraction in ``budget_fractions``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from replication.config import ConfigError, RunConfig, load_config
from replication.schedule import DEFAULT_CLIPS_PER_EPOCH, build_schedule, load_schedule

Slug = pydantic.constr(pattern=r"^[a-z0-9][a-z0-9_]*$")
_STRICT = ConfigDict(extra="forbid", frozen=True)
BASELINE = "baseline"  # the variant every speedup is measured against
SYNTHETIC_CLASSES = 8  # classes of replication.data.synthetic's data set


class PlanError(ValueError):
    """A plan that cannot be run: one line naming the file and the entry at fault."""


class Generate(BaseModel):
    """Parameters of ``python -m replication.data.synthetic`` for a generated data set."""

    model_config = _STRICT

    train_per_class: int = Field(gt=0, description="training videos per class")
    val_per_class: int = Field(gt=0, description="validation videos per class")
    texture_px: int = Field(1, gt=0, description="texture line width, pixels")
    distractor_pct: int = Field(50, ge=0, le=100, description="percent of videos with a distractor")
    object_pct: int = Field(25, ge=5, le=70, description="mean object size, percent of the frame")
    motions: Literal["timing", "change"] = Field(
        "timing", description="temporal events: timing needs the base temporal grid, change not"
    )


class Dataset(BaseModel):
    """Where a data set's annotations are; ``generate`` makes a synthetic one by a rule."""

    model_config = _STRICT

    train_annotations: str = Field(description="training annotations (data.train_annotations)")
    val_annotations: str = Field(description="validation annotations (data.val_annotations)")
    format: str | None = Field(None, description="data.format; null keeps the config's")
    video_root: str | None = Field(None, description="data.video_root; null keeps the config's")
    generate: Generate | None = Field(None, description="make it with the synthetic generator")

    def overrides(self) -> list[str]:
        """The ``--set`` overrides that point a config at this data set."""
        sets = [
            f"data.train_annotations={self.train_annotations}",
            f"data.val_annotations={self.val_annotations}",
        ]
        if self.format is not None:
            sets.append(f"data.format={self.format}")
        if self.video_root is not None:
            sets.append(f"data.video_root={self.video_root}")
        return sets


class Variant(BaseModel):
    """One training recipe of an experiment, run once per seed."""

    model_config = _STRICT

    name: Slug = Field(description="id used in run folders, e.g. long_short")  # type: ignore[valid-type]
    label: str = Field("", description="name in tables and figures")
    group: Literal["main", "ablation"] = Field("main", description="main table or ablations")
    config: str | None = Field(None, description="experiment YAML; null takes the experiment's")
    set: tuple[str, ...] = Field((), description="--set overrides of this variant")
    seeds: tuple[int, ...] | None = Field(None, description="seeds; null takes the plan's")
    requires_key: str | None = Field(
        None, description="config key the variant needs; skipped while this version lacks it"
    )


class Experiment(BaseModel):
    """One model on one data set: a main table, its ablations and a budget sweep."""

    model_config = _STRICT

    id: Slug = Field(description="id used in folders and table names")  # type: ignore[valid-type]
    title: str = Field(description="caption title, e.g. 'Kinetics-400, SlowFast R50 8x8'")
    dataset: str = Field(description="key into datasets")
    config: str = Field(description="experiment YAML of the baseline")
    set: tuple[str, ...] = Field((), description="--set overrides of every run")
    compare_with: str | None = Field(None, description="claims group to set beside (claims.py)")
    variants: tuple[Variant, ...] = Field(min_length=1)
    budget_fractions: tuple[float, ...] = Field(
        (), description="budget-matched baselines: fractions of the baseline's epochs"
    )
    budget_seeds: tuple[int, ...] | None = Field(None, description="seeds of the budget sweep")


class Plan(BaseModel):
    """The whole workflow config (validated against config/workflow.schema.json as well)."""

    model_config = _STRICT

    name: Slug = Field(description="plan id: runs/NAME, results/NAME, tables/NAME")  # type: ignore[valid-type]
    cluster: Literal["none", "local", "slurm", "debug"] = "none"
    slurm_profile: str = ""
    launcher: str = "python -m replication launch"
    trainer: str = "python -m replication train"
    seeds: tuple[int, ...] = Field((0, 1, 2), min_length=1)
    bootstrap_resamples: int = Field(10_000, gt=0)
    bootstrap_seed: int = Field(0, ge=0)
    datasets: dict[str, Dataset]  # a null entry in the file drops one merged in by Snakemake
    experiments: tuple[Experiment, ...] = Field(min_length=1)


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

    @property
    def run_id(self) -> str:
        """``<experiment>/<variant>-s<seed>``, unique within the plan."""
        return f"{self.experiment}/{self.variant}-s{self.seed}"

    def run_dir(self, runs_root: Path | str = "runs") -> Path:
        """The run folder: events.jsonl, config.json, checkpoints, summary.json."""
        return Path(runs_root) / self.plan / self.run_id

    def resolved_config(self) -> RunConfig:
        """The run's validated config."""
        return load_config(self.config, self.overrides)


# --------------------------------------------------------------------------- loading


def read_plan(path: Path | str) -> Plan:
    """Load and check a complete plan file (YAML or JSON)."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"{path}: no such plan file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PlanError(f"{path}: invalid YAML: {str(err).splitlines()[0]}") from None
    return load_plan(raw, source=str(path))


def load_plan(raw: Mapping[str, Any], source: str = "config") -> Plan:
    """Validate a plan mapping (Snakemake's ``config``) and every run it implies."""
    raw = dict(raw)
    if isinstance(raw.get("datasets"), Mapping):
        raw["datasets"] = {k: v for k, v in raw["datasets"].items() if v is not None}
    try:
        plan = Plan.model_validate(raw)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise PlanError(f"{source}: {key}: {first['msg']}") from None
    _check(plan, source)
    return plan


def _check(plan: Plan, source: str) -> None:
    ids = [e.id for e in plan.experiments]
    if len(set(ids)) != len(ids):
        raise PlanError(f"{source}: experiments: duplicate id in {ids}")
    for exp in plan.experiments:
        where = f"{source}: experiments[{exp.id}]"
        if exp.dataset not in plan.datasets:
            raise PlanError(f"{where}: dataset {exp.dataset!r} is not in datasets")
        names = [v.name for v in exp.variants]
        if len(set(names)) != len(names):
            raise PlanError(f"{where}: duplicate variant name in {names}")
        if BASELINE not in names:
            raise PlanError(f"{where}: needs a variant named {BASELINE!r} (speedups are vs it)")
        for fraction in exp.budget_fractions:
            if not 0 < fraction < 1:
                raise PlanError(f"{where}: budget_fractions: {fraction} is not in (0, 1)")
    for name, data in plan.datasets.items():
        if data.generate is not None:
            root = Path(data.train_annotations).parent
            expected = (root / "train.csv", root / "val.csv")
            if (Path(data.train_annotations), Path(data.val_annotations)) != expected:
                raise PlanError(
                    f"{source}: datasets[{name}]: a generated data set has "
                    f"DIR/train.csv and DIR/val.csv annotations"
                )
    for run in expand_runs(plan):
        try:
            load_schedule(run.config, run.overrides)  # config and schedule errors alike
        except ConfigError as err:
            raise PlanError(f"{source}: run {run.run_id}: {err}") from None


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


# --------------------------------------------------------------------------- runs


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
                )
            )
    return runs


def train_command(plan: Plan, run: Run, runs_root: Path | str = "runs") -> str:
    """The shell command that trains ``run`` and returns only when it has finished.

    ``cluster: none`` trains in this process with ``plan.trainer``; any other cluster goes
    through ``plan.launcher`` (submitit), which blocks until the job ends.
    """
    sets = " ".join(f"--set {shlex.quote(s)}" for s in run.overrides)
    run_dir = shlex.quote(str(run.run_dir(runs_root)))
    if plan.cluster == "none":
        return f"{plan.trainer} {shlex.quote(run.config)} --run-dir {run_dir} --quiet {sets}"
    slurm = f" --slurm {shlex.quote(plan.slurm_profile)}" if plan.slurm_profile else ""
    return (
        f"{plan.launcher} {shlex.quote(run.config)} --run-dir {run_dir} "
        f"--cluster {plan.cluster}{slurm} {sets}"
    )


def generated_data(plan: Plan, dataset: str) -> list[str]:
    """Annotation files a rule must make before runs on ``dataset`` start ([] for user data)."""
    data = plan.datasets[dataset]
    return [data.train_annotations, data.val_annotations] if data.generate else []


def config_hash(config: Mapping[str, Any]) -> str:
    """Short content hash of a resolved config (provenance column of every result row)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- cost estimate


def clips_per_epoch(plan: Plan, dataset: str) -> int:
    """Training clips per epoch: exact for generated data, a Kinetics-sized guess otherwise."""
    generate = plan.datasets[dataset].generate
    return generate.train_per_class * SYNTHETIC_CLASSES if generate else DEFAULT_CLIPS_PER_EPOCH


def estimated_cost(plan: Plan, runs: Iterable[Run]) -> dict[str, float]:
    """Theoretical compute of each run, in units of one full baseline run of its experiment."""
    units: dict[str, float] = {}
    base: dict[str, float] = {}
    for run in runs:
        clips = clips_per_epoch(plan, run.dataset)
        cost = build_schedule(run.resolved_config(), clips_per_epoch=clips).cost
        if run.experiment not in base:
            base_run = next(
                r
                for r in expand_runs(plan)
                if r.experiment == run.experiment and r.variant == BASELINE
            )
            base_cfg = base_run.resolved_config()
            base[run.experiment] = build_schedule(base_cfg, clips).cost.baseline_iterations
        units[run.run_id] = cost.relative_compute / base[run.experiment]
    return units


def print_plan(plan: Plan, file: Any = sys.stdout) -> None:
    """Human-readable list of runs with their estimated cost."""
    runs = expand_runs(plan)
    cost = estimated_cost(plan, runs)
    print(f"plan {plan.name!r}: {len(runs)} runs, cluster {plan.cluster}", file=file)
    for run in runs:
        print(f"  {run.run_id:48s} {run.group:8s} {cost[run.run_id]:6.2f}", file=file)
    print(f"total estimated compute: {sum(cost.values()):.2f} baseline runs", file=file)
    for name in skipped_variants(plan):
        print(f"  skipped {name}: its config key does not exist in this version", file=file)
