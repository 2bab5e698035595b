"""Checkpoints: one typed record, atomic writes, ``weights_only`` loads, exact-resume RNG states.

A checkpoint holds only tensors, containers and plain numbers, so it loads with
``torch.load(weights_only=True)`` (no arbitrary code runs from a checkpoint file). The model is
saved twice: in plain BatchNorm form, which any phase can load, and in the BN form of the phase
that wrote it, so a mid-phase resume keeps per-split statistics bit for bit. File names and the
choice of the newest checkpoint belong to :class:`replication.io.run_paths.RunPaths`.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from replication.engine.state import TrainState
from replication.io.atomic import atomic_path


@dataclass
class Checkpoint:
    """Everything resume needs; :meth:`to_file_dict` is the file layout (flat keys, as always)."""

    state: TrainState  # where training continues and what it has counted so far
    model: dict[str, torch.Tensor]  # plain-BN state dict (normal_state_dict)
    model_in_mode: dict[str, torch.Tensor]  # the state dict in the phase's BN form
    bn_mode: list[Any]  # [kind, splits, sync_devices] of that form
    optimizer: dict[str, Any]
    rng: dict[str, Any]  # Python, NumPy and torch generator states (rng_state)
    scaler: dict[str, Any] = field(default_factory=dict)  # fp16's loss scaler; {}: none

    def to_file_dict(self) -> dict[str, Any]:
        """The dict ``torch.save`` writes: the model parts, then every TrainState field."""
        parts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "state"}
        return {**parts, **asdict(self.state)}

    @classmethod
    def from_file_dict(cls, saved: dict[str, Any]) -> Checkpoint:
        """Read the file layout back (checkpoints older than a TrainState field lack it)."""
        state = {f.name: saved[f.name] for f in fields(TrainState) if f.name in saved}
        return cls(
            state=TrainState(**state),
            model=saved["model"],
            model_in_mode=saved["model_in_mode"],
            bn_mode=saved["bn_mode"],
            optimizer=saved["optimizer"],
            rng=saved["rng"],
            scaler=saved.get("scaler", {}),
        )


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically: a crash leaves the previous one intact."""
    with atomic_path(path, fsync=True) as tmp:
        torch.save(checkpoint.to_file_dict(), tmp)


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint on the CPU with ``weights_only=True``."""
    return Checkpoint.from_file_dict(torch.load(Path(path), map_location="cpu", weights_only=True))


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
