"""The GPUs a local job sees: the machine's, unless its resource profile says otherwise.

submitit's LocalExecutor sets ``CUDA_VISIBLE_DEVICES`` for the job from ``gpus_per_node``; the
default profile's 0 would hide every GPU, so ``make tables`` on a GPU machine trained on the
CPU. Here a profile that states ``gpus_per_node`` gets that many, and one that does not (the
default profile) follows the hardware.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from replication.cluster.profile import SlurmProfile


def machine_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA names them (indices or UUIDs); [] without one.

    In order: ``CUDA_VISIBLE_DEVICES`` when set (what torch then sees), torch's count when torch
    is already loaded, ``nvidia-smi -L``, then the ``/dev/nvidiaN`` device files. The launcher
    does not import torch for this (two seconds a run on a CPU machine).
    """
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        names = []
        for name in (part.strip() for part in listed.split(",")):
            if not name or name.startswith("-"):  # CUDA stops at the first invalid entry
                break
            names.append(name)
        return names
    torch = sys.modules.get("torch")
    if torch is not None:
        return [str(i) for i in range(torch.cuda.device_count())]
    return [str(i) for i in range(_count_without_torch())]


def _count_without_torch() -> int:
    """GPUs ``nvidia-smi -L`` lists, else the ``/dev/nvidiaN`` files; 0 without a driver."""
    if shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        count = sum(line.startswith("GPU ") for line in listing.splitlines())
        if count:
            return count
    return sum(path.name[len("nvidia") :].isdigit() for path in Path("/dev").glob("nvidia*"))


def local_gpus(profile: SlurmProfile) -> tuple[tuple[int, ...], str | None]:
    """What a local job gets: ``(indices for submitit's visible_gpus, None)``, or ``((), names)``.

    A profile that states ``gpus_per_node`` gets that many (0: a CPU job), the first ones this
    process sees. Without it (the default profile) the job follows the hardware: one GPU per
    training process when the machine has them, else none. GPUs named by UUID (MIG slices,
    ``GPU-...``) come back as the second item, for a ``CUDA_VISIBLE_DEVICES`` line of the job's
    set-up, because submitit only takes indices.
    """
    seen = machine_gpus()
    if "gpus_per_node" in profile.model_fields_set:
        wanted = profile.gpus_per_node
        if len(seen) < wanted:  # not visible from here: trust the profile, as submitit does
            return tuple(range(wanted)), None
    else:
        wanted = profile.tasks_per_node
    chosen = seen[:wanted] if wanted else []
    if all(name.isdigit() for name in chosen):
        return tuple(int(name) for name in chosen), None
    return (), ",".join(chosen)
