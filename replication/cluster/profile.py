"""SLURM profiles: the resources a training job asks for, read from ``slurm/<profile>.yaml``.

A profile is data, not code: partition, account, nodes, processes and their CPUs, GPUs and memory,
the time limit and how long before it SLURM warns the job (so it can checkpoint and requeue). It is
validated like an experiment config (strict types, unknown keys rejected with a suggestion) and
checked against the experiment it will run: one training process per task, so the config's
``train.num_gpus`` must equal ``nodes x tasks_per_node``; and against the cluster's nodes as
``sinfo`` lists them (:mod:`replication.cluster.nodes`), so a job no node could run fails at
once instead of pending for ever.
Every problem is a :class:`~replication.config.ConfigError` naming the profile file and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from replication.config import ConfigError, RunConfig, read_yaml
from replication.config.errors import from_validation_error

SbatchValue = Annotated[str | int | bool, Field(union_mode="left_to_right")]


class SlurmProfile(BaseModel):
    """Resources of one training job; the defaults are a one-process CPU job."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    partition: str = Field("", description="partition (sbatch --partition); '' = the default one")
    account: str = Field("", description="account to charge (sbatch --account); '' = your default")
    qos: str = Field("", description="quality of service (sbatch --qos); '' = the default")
    constraint: str = Field("", description="node features (sbatch --constraint), e.g. 'a100'")
    nodes: int = Field(1, gt=0, description="nodes of the job")
    tasks_per_node: int = Field(
        1, gt=0, description="training processes per node (one per GPU on a GPU cluster)"
    )
    gpus_per_node: int = Field(0, ge=0, description="GPUs per node; 0 trains on CPUs")
    cpus_per_task: int = Field(
        1, gt=0, description="cores per process: loader workers plus torch threads on a CPU"
    )
    mem_gb: float = Field(0, ge=0, description="memory per node, in GB; 0 = the cluster default")
    timeout_min: int = Field(60, gt=0, description="time limit of one job run, in minutes")
    signal_delay_s: int = Field(
        120, gt=0, description="seconds before the time limit SLURM sends USR2 (checkpoint time)"
    )
    max_timeout_requeues: int = Field(
        3, ge=0, description="requeues after hitting the time limit (preemptions do not count)"
    )
    sbatch: dict[str, SbatchValue] = Field(
        default_factory=dict,
        description="further sbatch options, e.g. {exclusive: true, mail-type: END}",
    )
    setup: tuple[str, ...] = Field(
        (), description="shell lines run before the training starts, e.g. 'module load cuda'"
    )

    @pydantic.field_validator("setup", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        # YAML gives lists; the frozen profile stores a tuple.
        return tuple(value) if isinstance(value, list) else value

    @property
    def num_tasks(self) -> int:
        """Training processes of the whole job."""
        return self.nodes * self.tasks_per_node


def _check(profile: SlurmProfile) -> None:
    if profile.signal_delay_s >= profile.timeout_min * 60:
        raise ConfigError(
            "signal_delay_s",
            f"{profile.signal_delay_s} s is not shorter than timeout_min={profile.timeout_min}",
        )
    if profile.gpus_per_node and profile.gpus_per_node != profile.tasks_per_node:
        raise ConfigError(
            "tasks_per_node",
            f"one process per GPU: set it to gpus_per_node={profile.gpus_per_node}, "
            f"got {profile.tasks_per_node}",
        )
    reserved = {"output", "error", "open-mode", "signal", "array", "wckey"}
    for option in profile.sbatch:
        if option.replace("_", "-") in reserved:
            raise ConfigError(f"sbatch.{option}", "is set by the launcher; remove it")


def validate_profile(raw: dict[str, Any]) -> SlurmProfile:
    """Build a profile from a mapping, raising its first problem as ConfigError."""
    try:
        profile = SlurmProfile.model_validate(raw)
    except pydantic.ValidationError as err:
        raise from_validation_error(err.errors()[0], list(SlurmProfile.model_fields)) from None
    _check(profile)
    return profile


def load_profile(path: str | Path) -> SlurmProfile:
    """Read and validate ``slurm/<profile>.yaml``.

    Raises:
        ConfigError: naming the file and the key at fault.
    """
    path = Path(path)
    try:
        return validate_profile(read_yaml(path))
    except ConfigError as err:
        raise err.with_source(str(path)) from None


def check_matches_config(profile: SlurmProfile, cfg: RunConfig, source: str) -> None:
    """Check that the profile starts as many processes as the config's schedule expects.

    The multigrid schedule sizes per-process batches, learning rate and BN groups from
    ``train.num_gpus``, so a job with a different number of processes would silently train
    another experiment.

    Raises:
        ConfigError: naming ``source`` (the profile) when the counts differ.
    """
    if profile.num_tasks != cfg.train.num_gpus:
        raise ConfigError(
            "tasks_per_node",
            f"{profile.nodes} node(s) x {profile.tasks_per_node} task(s) = {profile.num_tasks} "
            f"training processes, but the config says train.num_gpus={cfg.train.num_gpus}; "
            "make them equal (e.g. --set train.num_gpus=...)",
            source,
        )
