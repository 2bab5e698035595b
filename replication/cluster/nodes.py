"""The cluster's nodes as ``sinfo`` lists them, and whether a profile's job fits on them.

A job no node of its partition could ever run would pend forever; checking the profile against
the nodes first turns that into one line naming the profile key at fault.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from replication.cluster.profile import SlurmProfile
from replication.config import ConfigError


@dataclass(frozen=True)
class Node:
    """One node of a partition, as ``sinfo`` reports it."""

    name: str
    cpus: int
    mem_mb: int
    gpus: int


def _gpu_count(gres: str) -> int:
    """GPUs in a GRES string such as ``gpu:8``, ``gpu:a100:4(S:0-1)`` or ``(null)``.

    >>> _gpu_count("gpu:a100:4(S:0-1),tmpdisk:100"), _gpu_count("(null)")
    (4, 0)
    """
    total = 0
    for item in gres.split(","):
        fields = item.split("(")[0].split(":")
        if fields[0] == "gpu" and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def parse_sinfo(text: str, partition: str) -> list[Node]:
    """Nodes of ``partition`` ('' = the default one) from ``sinfo -h -N -o '%N|%c|%m|%G|%P'``."""
    nodes = []
    for line in text.splitlines():
        name, cpus, mem, gres, part = line.strip().split("|")
        is_default = part.endswith("*")
        if part.rstrip("*") == partition or (not partition and is_default):
            nodes.append(Node(name, int(cpus), int(mem.rstrip("+")), _gpu_count(gres)))
    return nodes


NODE_ARGS = ("-N", "-o", "%N|%c|%m|%G|%P")  # one line per node, as parse_sinfo reads it


def ask_sinfo(*args: str) -> subprocess.CompletedProcess[str] | OSError:
    """``sinfo -h ARGS``, or the error that kept it from answering (not found, timed out)."""
    try:
        return subprocess.run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as err:
        return OSError(f"sinfo timed out after {err.timeout:g} s")
    except OSError as err:
        return err


def partition_nodes(partition: str) -> list[Node] | None:
    """Ask ``sinfo`` for the nodes of ``partition``; None when sinfo cannot answer."""
    proc = ask_sinfo(*NODE_ARGS)
    if isinstance(proc, OSError) or proc.returncode != 0:
        return None
    return parse_sinfo(proc.stdout, partition)


def check_fits_nodes(profile: SlurmProfile, nodes: list[Node], source: str) -> None:
    """Refuse a job that no node of its partition could ever run (it would pend forever).

    Raises:
        ConfigError: naming ``source`` and the resource that does not fit.
    """
    where = f"partition {profile.partition!r}" if profile.partition else "the default partition"
    if not nodes:
        raise ConfigError("partition", f"{where} has no nodes (or does not exist)", source)
    cpus = profile.tasks_per_node * profile.cpus_per_task
    most = max(n.cpus for n in nodes)
    overcommit = bool(profile.sbatch.get("overcommit", False))  # more tasks than cores allowed
    if overcommit:
        cpus = min(cpus, most)
    if cpus > most:
        raise ConfigError(
            "cpus_per_task",
            f"{profile.tasks_per_node} task(s) x {profile.cpus_per_task} CPUs = {cpus} CPUs per "
            f"node, but the largest node of {where} has {most}",
            source,
        )
    mem_mb = round(profile.mem_gb * 1024)
    if mem_mb > max(n.mem_mb for n in nodes):
        raise ConfigError(
            "mem_gb",
            f"{profile.mem_gb} GB per node, but the largest node of {where} has "
            f"{max(n.mem_mb for n in nodes) / 1024:.1f} GB",
            source,
        )
    if profile.gpus_per_node > max(n.gpus for n in nodes):
        raise ConfigError(
            "gpus_per_node",
            f"{profile.gpus_per_node} GPUs, but nodes of {where} have at most "
            f"{max(n.gpus for n in nodes)}",
            source,
        )
    fitting = [
        n
        for n in nodes
        if n.cpus >= cpus and n.mem_mb >= mem_mb and n.gpus >= profile.gpus_per_node
    ]
    if len(fitting) < profile.nodes:
        raise ConfigError(
            "nodes",
            f"{profile.nodes} nodes, but only {len(fitting)} node(s) of {where} fit one task set",
            source,
        )
