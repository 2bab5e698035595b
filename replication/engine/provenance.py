"""What produced a run: git commit, package versions, hardware, seed, resolved config."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from replication.config import RunConfig

PACKAGES = ("torch", "torchvision", "pytorchvideo", "av", "fvcore", "numpy", "replication")


def git_state(root: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit SHA, whether the work tree has uncommitted changes); (None, None) outside git."""
    root = root or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return sha, bool(dirty.strip())


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide the numbers."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device: torch.device) -> dict[str, Any]:
    """The hardware a run's wall-clock numbers belong to."""
    info: dict[str, Any] = {
        "type": device.type,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info |= {
            "gpu": props.name,
            "gpu_count": torch.cuda.device_count(),
            "gpu_memory_gb": round(props.total_memory / 2**30, 1),
        }
    return info


def run_metadata(cfg: RunConfig, device: torch.device) -> dict[str, Any]:
    """Fields of the ``run_start`` event."""
    sha, dirty = git_state()
    return {
        "config": cfg.to_dict(),
        "git_sha": sha,
        "git_dirty": dirty,
        "versions": versions(),
        "device": device_info(device),
        "seed": cfg.train.seed,
    }
