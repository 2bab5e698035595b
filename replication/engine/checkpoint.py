"""Checkpoints: atomic writes, ``weights_only`` loads, and the RNG states exact resume needs.

A checkpoint holds only tensors, containers and plain numbers, so it loads with
``torch.load(weights_only=True)`` (no arbitrary code runs from a checkpoint file). BatchNorm
appears in its plain form whatever the phase's BN mode, so any phase can load any checkpoint.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from replication.io.atomic import atomic_path

_NAME = re.compile(r"checkpoint_epoch(\d{5})(?:_iter(\d{7}))?\.pt$")


def checkpoint_name(epoch: int, iteration: int | None = None) -> str:
    """File name of the checkpoint taken after ``epoch`` (or inside it, at ``iteration``).

    >>> checkpoint_name(12), checkpoint_name(3, 250)
    ('checkpoint_epoch00012.pt', 'checkpoint_epoch00003_iter0000250.pt')
    """
    suffix = "" if iteration is None else f"_iter{iteration:07d}"
    return f"checkpoint_epoch{epoch:05d}{suffix}.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a crash leaves the previous checkpoint intact."""
    with atomic_path(path, fsync=True) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True``."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def latest_checkpoint(directory: Path) -> Path | None:
    """The most advanced checkpoint in ``directory`` (by epoch, then iteration), or None.

    Names say where training continues (as the training loop writes them): ``epoch00003`` is
    the start of epoch 3, before ``epoch00003_iter0000040`` (a preemption inside epoch 3).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("checkpoint_epoch00003.pt", "checkpoint_epoch00003_iter0000040.pt",
    ...              "checkpoint_epoch00002_iter0000090.pt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> latest_checkpoint(folder).name
    'checkpoint_epoch00003_iter0000040.pt'
    """
    best, best_key = None, (-1, -1)
    for path in Path(directory).glob("checkpoint_epoch*.pt"):
        match = _NAME.search(path.name)
        if match:
            key = (int(match[1]), int(match[2]) if match[2] else 0)
            if key > best_key:
                best, best_key = path, key
    return best


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states, as checkpoint-safe values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    # random.setstate wants the nested tuples it produced; loading may hand back lists.
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value
