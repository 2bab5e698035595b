"""Everything a plan's runs need from outside the repository, checked before any job starts.

A plan for user data (``config/paper.yaml``) names annotation files, video folders and SLURM
profiles that no checkout ships. Found missing inside a training job, each would fail that job
after it queued, and every other job with it; found here, at ``snakemake -n``, the user gets one
line per missing piece naming the file and what to do. The checks: each selected experiment's
annotation files and video folder (generated data sets are made by a rule, so not checked); on a
SLURM plan, each profile file, its keys, its process count against every run's
``train.num_gpus``, and, where ``sinfo`` answers, whether the cluster's nodes can run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from replication.cluster.nodes import check_fits_nodes, partition_nodes
from replication.cluster.profile import check_matches_config, load_profile
from replication.config import ConfigError, RunConfig, load_config
from replication.workflow.records import Dataset, Plan
from replication.workflow.runs import Run

PROFILE_COMMAND = "python -m replication slurm-profile"


def _data_problems(key: str, data: Dataset) -> list[str]:
    problems = []
    for field in ("train_annotations", "val_annotations"):
        path = getattr(data, field)
        if not Path(path).is_file():
            problems.append(
                f"{path}: no such annotation file (datasets.{key}.{field}): put your copy "
                "there or point the key at it"
            )
    if data.video_root and not Path(data.video_root).is_dir():
        problems.append(
            f"{data.video_root}: no such video folder (datasets.{key}.video_root): put the "
            "videos there or point the key at them"
        )
    return problems


@cache
def _config(config: str, overrides: tuple[str, ...]) -> RunConfig:
    return load_config(config, overrides)


def _run_config(run: Run) -> RunConfig:
    """The run's config, loaded once for all seeds (the seed changes no resource)."""
    return _config(run.config, tuple(s for s in run.overrides if not s.startswith("train.seed=")))


def _profile_problems(path: str, runs: Sequence[Run], ask_sinfo: bool) -> list[str]:
    processes = sorted({_run_config(r).train.num_gpus for r in runs})
    if len(processes) > 1:
        return [
            f"{path or 'slurm_profile'}: its runs need different process counts {processes} "
            "(train.num_gpus); give those experiments their own slurm_profile"
        ]
    write = f"{PROFILE_COMMAND} --processes {processes[0]} --write"
    if not path:
        return [f"slurm_profile: a SLURM plan needs a profile; write one with {write} FILE"]
    if not Path(path).is_file():
        return [f"{path}: no such SLURM profile; write one for your cluster: {write} {path}"]
    try:
        profile = load_profile(path)
    except ConfigError as err:
        return [str(err)]
    problems = []
    try:
        check_matches_config(profile, _run_config(runs[0]), path)
    except ConfigError as err:
        problems.append(f"{err} (runs such as {runs[0].run_id})")
    if ask_sinfo:
        nodes = partition_nodes(profile.partition)
        if nodes is not None:  # no sinfo here (a laptop): sbatch judges at submission
            try:
                check_fits_nodes(profile, nodes, path)
            except ConfigError as err:
                problems.append(str(err))
    return problems


def missing_pieces(plan: Plan, runs: Sequence[Run], ask_sinfo: bool = True) -> list[str]:
    """One line per thing ``runs`` of ``plan`` need that is missing or wrong ([] = ready).

    Args:
        plan: the plan (its data sets, cluster and SLURM profile).
        runs: the runs that will be trained (the selected experiments').
        ask_sinfo: check profiles against the cluster's nodes where ``sinfo`` answers.
    """
    problems = []
    for key in dict.fromkeys(r.dataset for r in runs):
        data = plan.datasets[key]
        if data.generate is None:
            problems.extend(_data_problems(key, data))
    if plan.cluster == "slurm":
        by_profile: dict[str, list[Run]] = {}
        for run in runs:
            path = plan.slurm_profile if run.slurm_profile is None else run.slurm_profile
            by_profile.setdefault(path, []).append(run)
        for path, its_runs in by_profile.items():
            problems.extend(_profile_problems(path, its_runs, ask_sinfo))
    return problems
