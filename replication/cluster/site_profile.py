"""Write a SLURM profile for *your* cluster from what ``sinfo`` says about its nodes.

The paper plan names profiles (``slurm/default.yaml``, ``slurm/one-gpu.yaml``) that no
repository can ship: partitions, GPUs, cores and memory differ per site. ``python -m replication
slurm-profile --processes N --write FILE`` asks ``sinfo`` for a partition's nodes and time limit
and writes the profile that starts N training processes on them (one per GPU on GPU nodes,
filling nodes first), with the cores and memory a node has, checked exactly as ``launch`` checks
profiles before it writes anything. The result is a plain YAML file to read and adjust.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from replication.cluster.nodes import NODE_ARGS, Node, ask_sinfo, check_fits_nodes, parse_sinfo
from replication.cluster.profile import SlurmProfile, validate_profile
from replication.config import ConfigError
from replication.io.atomic import atomic_write_text

DEFAULT_TIMEOUT_MIN = 24 * 60  # when the partition sets no time limit
SIGNAL_DELAY_S = 180  # checkpoint time before the limit, as in slurm/example-gpu-cluster.yaml
MEM_SHARE = 0.9  # of a node's memory: leave the rest to the OS and SLURM's own daemons


@dataclass(frozen=True)
class Partition:
    """One partition as ``sinfo`` lists it: its nodes and time limit (None: no limit)."""

    name: str
    nodes: list[Node]
    timeout_min: int | None


def parse_time_limit(text: str) -> int | None:
    """Minutes of a SLURM time limit (``infinite``, ``MM``, ``HH:MM:SS``, ``D-HH:MM:SS``).

    >>> parse_time_limit("1-00:00:00"), parse_time_limit("2:30:00"), parse_time_limit("infinite")
    (1440, 150, None)
    """
    text = text.strip()
    if text in ("infinite", "UNLIMITED", "NONE", "n/a", ""):
        return None
    days, dash, clock = text.partition("-") if "-" in text else ("0", "", text)
    parts = [int(p) for p in clock.split(":")]
    if dash:  # D-H, D-H:M, D-H:M:S
        hours, mins = parts[0], (parts[1] if len(parts) > 1 else 0)
    elif len(parts) <= 2:  # M or M:S (seconds do not count)
        hours, mins = 0, parts[0]
    else:  # H:M:S
        hours, mins = parts[0], parts[1]
    return int(days) * 24 * 60 + hours * 60 + mins


def _sinfo_text(*args: str) -> str:
    proc = ask_sinfo(*args)
    if isinstance(proc, OSError):
        raise ConfigError("", f"cannot ask sinfo about the cluster ({proc})", "sinfo")
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise ConfigError("", f"sinfo failed: {first}", "sinfo")
    return proc.stdout


def read_partition(partition: str, node_text: str, limit_text: str) -> Partition:
    """The partition (``''``: the default one) from ``sinfo`` outputs.

    Args:
        partition: its name; ``''`` for the default one.
        node_text: ``sinfo -h -N -o '%N|%c|%m|%G|%P'``.
        limit_text: ``sinfo -h -o '%P|%l'``.
    """
    limits = {}
    default = ""
    for line in limit_text.splitlines():
        if "|" not in line:
            continue
        name, limit = line.strip().split("|", 1)
        if name.endswith("*"):
            default = name.rstrip("*")
        limits[name.rstrip("*")] = parse_time_limit(limit)
    name = partition or default
    nodes = parse_sinfo(node_text, partition)
    if not nodes:
        known = ", ".join(sorted(limits)) or "none"
        where = f"partition {partition!r}" if partition else "the default partition"
        raise ConfigError("partition", f"{where} has no nodes (partitions: {known})", "sinfo")
    return Partition(name, nodes, limits.get(name))


def query_partition(partition: str = "") -> Partition:
    """Ask ``sinfo`` for ``partition`` (``''``: the default one)."""
    return read_partition(partition, _sinfo_text(*NODE_ARGS), _sinfo_text("-o", "%P|%l"))


def profile_for(part: Partition, processes: int, overcommit: bool = False) -> SlurmProfile:
    """The profile that starts ``processes`` training processes on ``part``'s nodes.

    GPU nodes: one process per GPU, as many per node as it has GPUs (a job of fewer processes
    than that uses one node). CPU nodes: every process on one node, sharing its cores; with
    ``overcommit`` more processes than cores (a test cluster only: it runs, slowly).

    Raises:
        ConfigError: when no set of this partition's nodes can run that many processes.
    """
    if processes < 1:
        raise ConfigError("processes", f"needs at least 1, got {processes}", "slurm-profile")
    gpus = max(n.gpus for n in part.nodes)
    widest = [n for n in part.nodes if n.gpus == gpus]
    cpus, mem_mb = min(n.cpus for n in widest), min(n.mem_mb for n in widest)
    if gpus:
        per_node = min(gpus, processes)
        if processes % per_node:
            raise ConfigError(
                "processes",
                f"{processes} processes do not fill nodes of {gpus} GPUs evenly; "
                f"use a multiple of {gpus} or at most {gpus}",
                "slurm-profile",
            )
    else:
        per_node = processes
        if per_node > cpus and not overcommit:
            raise ConfigError(
                "processes",
                f"{processes} processes, but the CPU nodes of partition {part.name!r} have "
                f"{cpus} cores; ask for fewer (or --overcommit on a test cluster)",
                "slurm-profile",
            )
    timeout = part.timeout_min or DEFAULT_TIMEOUT_MIN
    raw = {
        "partition": part.name,
        "nodes": processes // per_node,
        "tasks_per_node": per_node,
        "gpus_per_node": per_node if gpus else 0,
        "cpus_per_task": max(1, cpus // per_node),
        "mem_gb": float(int(mem_mb / 1024 * MEM_SHARE)),
        "timeout_min": timeout,
        "signal_delay_s": min(SIGNAL_DELAY_S, timeout * 60 // 4),
        "max_timeout_requeues": 20,
        "sbatch": {"overcommit": True} if per_node > cpus else {},
    }
    profile = validate_profile(raw)
    check_fits_nodes(profile, part.nodes, "slurm-profile")
    return profile


def render_profile(profile: SlurmProfile, part: Partition, processes: int) -> str:
    """The profile as a commented YAML file (what it was made from, and when)."""
    gpus = max(n.gpus for n in part.nodes)
    node = min((n for n in part.nodes if n.gpus == gpus), key=lambda n: n.cpus)
    header = (
        f"# Written by `python -m replication slurm-profile --processes {processes}` on "
        f"{date.today().isoformat()} from sinfo:\n"
        f"# partition {part.name!r}, {len(part.nodes)} node(s) like {node.name}: {node.cpus} "
        f"cores, {node.mem_mb / 1024:.0f} GiB, {gpus} GPU(s); time limit "
        f"{f'{part.timeout_min} min' if part.timeout_min else 'none'}.\n"
        f"# {processes} training process(es) = nodes x tasks_per_node; the configs it runs need "
        f"train.num_gpus: {processes}.\n"
        "# Add account, qos, constraint or setup lines for your site (docs/cluster.md).\n"
    )
    body = yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False)
    return header + body


def write_profile(
    path: Path | str | None, processes: int, partition: str = "", overcommit: bool = False
) -> str:
    """Ask sinfo, build, check and write the profile (``path`` None: only return it)."""
    part = query_partition(partition)
    profile = profile_for(part, processes, overcommit)
    text = render_profile(profile, part, processes)
    if path:
        atomic_write_text(path, text)
    return text
