"""The records of an experiment plan: what ``config/config.yaml`` and ``config/paper.yaml`` hold.

A plan (the workflow config) lists data sets, experiments (one per model and data set) and, per
experiment, its variants (baseline, long, short, long + short, ablations) and seeds. These frozen
pydantic models are the one definition of its keys: :mod:`replication.workflow.load` validates
plan files with them and ``config/workflow.schema.json`` is generated from them
(:mod:`replication.workflow.schema`), so the descriptions below are the plan's documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from replication.data.synthetic.params import GeneratorParams

BASELINE = "baseline"  # the variant every speedup is measured against
# Groups whose accuracy curves the figures and the main table read. Runs of other groups
# (ablations) skip the curve evaluations: on the CPU smoke plan they were 61 s of nothing read.
CURVED_GROUPS = frozenset({"main", "budget"})
_STRICT = ConfigDict(extra="forbid", frozen=True)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$")]
Override = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z_]+\.[a-z_0-9]+="),
    Field(description="--set override of the experiment config, SECTION.KEY=VALUE"),
]
Seeds = Annotated[tuple[Annotated[int, Field(ge=0)], ...], Field(min_length=1)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class PlanError(ValueError):
    """A plan that cannot be run: one line naming the file and the entry at fault."""


class Generate(GeneratorParams):
    """The synthetic generator's parameters (``python -m replication.data.synthetic``).

    The generator's own record, except that a plan gives both split sizes and at least one
    validation video per class (every run is evaluated).
    """

    train_per_class: int = Field(
        ge=1, description=GeneratorParams.model_fields["train_per_class"].description
    )
    val_per_class: int = Field(
        ge=1, description=GeneratorParams.model_fields["val_per_class"].description
    )


class Dataset(BaseModel):
    """Where a data set's annotations are; ``generate`` makes a synthetic one by a rule."""

    model_config = _STRICT

    train_annotations: str = Field(description="training annotations (data.train_annotations)")
    val_annotations: str = Field(description="validation annotations (data.val_annotations)")
    format: str | None = Field(None, description="data.format; null keeps the config's")
    video_root: str | None = Field(None, description="data.video_root; null keeps the config's")
    generate: Generate | None = Field(
        None, description="make it with the synthetic generator (DIR/train.csv, DIR/val.csv)"
    )
    copies: tuple[Annotated[int, Field(gt=0)], ...] = Field(
        (),
        description="short sides of the multi-resolution store's copies of the training videos: "
        "a rule writes them once beside the training annotations (python -m "
        "replication.data.copies) and the runs read them (data.copies); [] = none",
    )

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
        if self.copies:
            sets.append(f"data.copies={list(self.copies)}")
        return sets


class InitFrom(BaseModel):
    """Fine-tune from another run of this plan: its final weights start the run.

    The workflow trains the source first and retrains the fine-tune when the source changes
    (its ``summary.json`` is an input of the fine-tune's job); the run's config gets
    ``train.init_weights=<the source's run folder>``. For weights from outside the plan, set
    ``train.init_weights`` yourself.
    """

    model_config = _STRICT

    experiment: Slug = Field(description="the source experiment's id (in this plan)")
    variant: Slug | None = Field(
        None,
        description="the source's variant; null: the fine-tuning run's own (budget-matched "
        "baselines: baseline)",
    )
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="the source's seed; null: the fine-tuning run's own"
    )


class Variant(BaseModel):
    """One training recipe of an experiment, run once per seed."""

    model_config = _STRICT

    name: Slug = Field(description="id used in run folders, e.g. long_short")
    label: str = Field("", description="name in tables and figures; empty takes the name")
    group: Literal["main", "ablation"] = Field("main", description="main table or ablations")
    config: str | None = Field(None, description="experiment YAML; null takes the experiment's")
    set: tuple[Override, ...] = Field((), description="--set overrides of this variant")
    seeds: Seeds | None = Field(None, description="seeds; null takes the plan's")
    requires_key: str | None = Field(
        None, description="config key the variant needs; skipped while this version lacks it"
    )
    init_from: InitFrom | None = Field(
        None, description="fine-tune from this run; null takes the experiment's init_from"
    )
    sweep: str | None = Field(
        None,
        description="line of the training-length sweep figure this variant is a point of (e.g. "
        "'baseline'; its length is its solver.max_epoch); null: not in the sweep",
    )


class Experiment(BaseModel):
    """One model on one data set: a main table, its ablations and a budget sweep."""

    model_config = _STRICT

    id: Slug = Field(description="id used in folders and table names")
    title: str = Field(description="caption title, e.g. 'Kinetics-400, SlowFast R50 8x8'")
    dataset: str = Field(description="key into datasets")
    config: str = Field(description="experiment YAML of the baseline")
    set: tuple[Override, ...] = Field((), description="--set overrides of every run")
    compare_with: str | None = Field(
        None, description="claims group to set beside (replication/results/claims.py)"
    )
    slurm_profile: str | None = Field(
        None,
        description="slurm/<profile>.yaml of this experiment's runs (e.g. a 1-GPU one, for "
        "train.num_gpus=1); null takes the plan's",
    )
    variants: tuple[Variant, ...] = Field(
        min_length=1, description="training recipes; one must be named 'baseline'"
    )
    budget_fractions: tuple[Fraction, ...] = Field(
        (), description="budget-matched baselines: fractions of the baseline's epochs"
    )
    budget_seeds: Seeds | None = Field(
        None, description="seeds of the budget sweep; null takes the baseline's"
    )
    init_from: InitFrom | None = Field(
        None,
        description="fine-tune every run from another experiment's run (the reference's SSv2 "
        "and Charades models start from K400); null: from scratch",
    )


def _drop_nulls(datasets: Any) -> Any:
    """A null data set removes one that an earlier plan file (config/config.yaml) defined."""
    if isinstance(datasets, Mapping):
        return {key: value for key, value in datasets.items() if value is not None}
    return datasets


class Plan(BaseModel):
    """Workflow config (experiment plan) of the multigrid replication suite.

    ``config/config.yaml`` (the smoke replication) and ``config/paper.yaml``; loading a plan also
    checks every run's resolved config (replication.workflow.load).
    """

    model_config = _STRICT

    name: Slug = Field(description="plan id: runs/NAME, results/NAME, tables/NAME, figures/NAME")
    cluster: Literal["none", "local", "slurm", "debug"] = Field(
        "none",
        description="none: train in the rule's process with 'trainer'; otherwise through "
        "'launcher' on this submitit cluster",
    )
    slurm_profile: str = Field("", description="slurm/<profile>.yaml passed to the launcher")
    launcher: str = Field(
        "python -m replication launch", description="submits a run and blocks until it ends"
    )
    trainer: str = Field(
        "python -m replication train", description="trains a run in-process (cluster: none)"
    )
    seeds: Seeds = Field((0, 1, 2), description="seeds of variants that list none")
    bootstrap_resamples: int = Field(10_000, gt=0, description="resamples of the bootstrap CI")
    bootstrap_seed: int = Field(
        0, ge=0, description="seed of the bootstrap (byte-identical tables)"
    )
    datasets: Annotated[
        dict[str, Dataset],
        BeforeValidator(
            _drop_nulls,
            json_schema_input_type=Annotated[dict[str, Dataset | None], Field(min_length=1)],
        ),
    ] = Field(
        min_length=1,
        description="data sets by key; null removes one inherited from config/config.yaml",
    )
    experiments: tuple[Experiment, ...] = Field(
        min_length=1, description="one per model and data set"
    )
    select: tuple[Slug, ...] = Field(
        (),
        description="ids of the experiments to train (empty: all); tables show the others as "
        "'not run'. On the command line: snakemake --config 'experiments=[ID,...]'",
    )

    def selected(self, experiment: str) -> bool:
        """Whether the workflow trains ``experiment`` (every one when nothing is selected)."""
        return not self.select or experiment in self.select
