"""Reading a plan: plan files merged as Snakemake merges configfiles, then checked run by run.

``snakemake`` reads ``config/config.yaml`` (its ``configfile:``) and lays every ``--configfile``
over it; :func:`read_plan` does the same with the files it is given, so the workflow CLI sees the
plan the Snakefile sees. Loading a plan validates every run's resolved config and schedule up
front, so a typo in a variant fails ``snakemake -n`` with one line naming the experiment and
variant, not a training job an hour in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from pathlib import Path
from typing import Any

import pydantic
import yaml

from replication.config import ConfigError, ModelConfig
from replication.schedule import load_schedule
from replication.workflow.records import BASELINE, Plan, PlanError
from replication.workflow.runs import expand_runs

DEFAULT_PLAN = "config/config.yaml"  # the Snakefile's configfile: the smoke replication


def merge_config(base: Any, override: Mapping[str, Any]) -> Any:
    """``override`` laid over ``base`` as ``snakemake.utils.update_config`` does (but copied).

    Mappings merge key by key; any other value (a list, null) replaces.
    """
    merged = dict(base) if isinstance(base, Mapping) else base
    for key, value in override.items():
        if not isinstance(merged, dict):
            merged = {}
        merged[key] = (
            merge_config(merged.get(key, {}), value) if isinstance(value, Mapping) else value
        )
    return merged


def merge_plan_files(raws: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The config Snakemake builds from its configfile ``raws[0]`` and ``--configfile raws[1:]``.

    Snakemake first merges the ``--configfile`` files among themselves, then lays the result
    over the Snakefile's own configfile; so does this.
    """
    first, *rest = raws
    return merge_config(first, reduce(merge_config, rest, {}))


def read_config(path: Path | str) -> dict[str, Any]:
    """One plan file (YAML or JSON) as a mapping."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"{path}: no such plan file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PlanError(f"{path}: invalid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise PlanError(f"{path}: a plan file is a mapping of keys")
    return raw


def read_plan(path: Path | str, *overrides: Path | str, select: Sequence[str] = ()) -> Plan:
    """Load and check a plan file, with later files laid over it (``--configfile`` order).

    ``select`` (experiment ids), when given, replaces the files' own selection.
    """
    paths = [path, *overrides]
    raw = merge_plan_files([read_config(p) for p in paths])
    if select:
        raw["select"] = list(select)
    return load_plan(raw, source=" + ".join(str(p) for p in paths))


def load_plan(raw: Mapping[str, Any], source: str = "config") -> Plan:
    """Validate a plan mapping (Snakemake's ``config``) and every run it implies."""
    try:
        plan = Plan.model_validate(dict(raw))
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        value = first["input"]
        got = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        raise PlanError(f"{source}: {key}: {first['msg']}{got}") from None
    _check(plan, source)
    return plan


def _check(plan: Plan, source: str) -> None:
    ids = [e.id for e in plan.experiments]
    if len(set(ids)) != len(ids):
        raise PlanError(f"{source}: experiments: duplicate id in {ids}")
    unknown = [name for name in plan.select if name not in ids]
    if unknown:
        raise PlanError(
            f"{source}: select: no experiment {', '.join(map(repr, unknown))} in this plan "
            f"(experiments: {', '.join(ids)})"
        )
    for exp in plan.experiments:
        where = f"{source}: experiments[{exp.id}]"
        if exp.dataset not in plan.datasets:
            raise PlanError(f"{where}: dataset {exp.dataset!r} is not in datasets")
        names = [v.name for v in exp.variants]
        if len(set(names)) != len(names):
            raise PlanError(f"{where}: duplicate variant name in {names}")
        if BASELINE not in names:
            raise PlanError(f"{where}: needs a variant named {BASELINE!r} (speedups are vs it)")
    for name, data in plan.datasets.items():
        if data.generate is not None:
            root = Path(data.train_annotations).parent
            expected = (root / "train.csv", root / "val.csv")
            if (Path(data.train_annotations), Path(data.val_annotations)) != expected:
                raise PlanError(
                    f"{source}: datasets[{name}]: a generated data set has "
                    f"DIR/train.csv and DIR/val.csv annotations"
                )
    try:
        runs = expand_runs(plan)
    except PlanError as err:
        raise PlanError(f"{source}: {err}") from None
    models: dict[str, ModelConfig] = {}
    for run in runs:
        try:
            cfg, _ = load_schedule(run.config, run.overrides)  # config and schedule errors alike
        except ConfigError as err:
            raise PlanError(f"{source}: run {run.run_id}: {err}") from None
        models[run.run_id] = cfg.model
    for run in runs:
        if run.init_from is not None:
            _check_same_backbone(run.run_id, run.init_from, models, source)


# What must agree between a fine-tune and its source; the class count and dropout may differ.
BACKBONE_KEYS = ("arch", "depth", "width", "slowfast_alpha", "slowfast_beta_inv")


def _check_same_backbone(
    run: str, init_from: str, models: Mapping[str, ModelConfig], source: str
) -> None:
    """A fine-tune whose backbone differs from its source's fails here, not after the source."""
    mine, theirs = models[run], models[init_from]
    for key in BACKBONE_KEYS:
        if getattr(mine, key) != getattr(theirs, key):
            raise PlanError(
                f"{source}: run {run}: model.{key} is {getattr(mine, key)!r} but its init_from "
                f"run {init_from} has {getattr(theirs, key)!r}; weights load only between equal "
                "backbones"
            )
