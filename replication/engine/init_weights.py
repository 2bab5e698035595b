"""Start a run from another run's final weights (``train.init_weights``): fine-tuning.

The paper fine-tunes its Something-Something V2 and Charades models from Kinetics-400 ones, as
PySlowFast does with ``TRAIN.CHECKPOINT_FILE_PATH`` and ``CHECKPOINT_EPOCH_RESET``: the weights
and BN statistics of the source are loaded, the optimizer and the epoch start afresh, and a
tensor whose shape differs (the classifier, when the class count differs) keeps the new model's
initialisation. Anything else that does not match (another backbone, depth or width) is an
error naming the tensor, not a silent partial load: the reference only logs such tensors, and a
fine-tune that quietly starts half from scratch reports a wrong number.

Weights are read from the plain-BN form every checkpoint holds, so any long-cycle phase of the
source and any BN mode of the new run fit (:func:`replication.model.load_normal_state_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from replication.config import ConfigError
from replication.engine.checkpoint import load_checkpoint
from replication.io.run_paths import RunPaths
from replication.model import load_normal_state_dict, normal_state_dict

KEY = "train.init_weights"


class InitWeightsError(ConfigError):
    """Weights that cannot start this run: one line naming the key, the file and the tensor."""

    def __init__(self, message: str) -> None:
        super().__init__(KEY, message)


@dataclass(frozen=True)
class InitReport:
    """What a start from other weights did (the ``init_weights`` field of ``run_start``)."""

    path: str  # the checkpoint file read
    loaded: int  # tensors taken from it
    kept_new: tuple[str, ...]  # tensors left at the new init (shape differs: the classifier)

    def to_event(self) -> dict[str, object]:
        """The event field: plain values."""
        return {"path": self.path, "loaded": self.loaded, "kept_new": list(self.kept_new)}


def weights_file(spec: str) -> Path:
    """The checkpoint file ``train.init_weights`` names: a file, or a finished run's last one.

    Raises:
        InitWeightsError: no such file or folder; a run folder without ``summary.json`` (its
            weights are not final) or without checkpoints.
    """
    path = Path(spec)
    if path.is_file():
        return path
    if not path.is_dir():
        raise InitWeightsError(f"{spec}: no such run folder or checkpoint file")
    paths = RunPaths(path)
    if not paths.summary.is_file():
        raise InitWeightsError(
            f"{spec}: the run has not finished (no {paths.summary.name}); its weights are not final"
        )
    newest = paths.latest_checkpoint()
    if newest is None:
        raise InitWeightsError(f"{spec}: the run folder holds no checkpoint")
    return newest


def classifier_keys(model: nn.Module) -> frozenset[str]:
    """State-dict keys of the model's last linear layer (every builder ends in one)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        return frozenset()
    return frozenset(f"{last}.{key}" for key in ("weight", "bias"))


def load_init_weights(model: nn.Module, spec: str) -> InitReport:
    """Load ``spec``'s weights into ``model`` (any BN mode); the classifier may differ.

    Raises:
        InitWeightsError: the file is unreadable, or a tensor other than the classifier is
            missing, extra or of another shape.
    """
    path = weights_file(spec)
    try:
        source = load_checkpoint(path).model
    except Exception as err:  # torch.load raises many types for a damaged or foreign file
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise InitWeightsError(f"{path}: not a checkpoint of this suite ({reason})") from None
    target = normal_state_dict(model)
    head = classifier_keys(model)
    merged, kept = _merge(target, source, head, path)
    load_normal_state_dict(model, merged)
    return InitReport(str(path), len(target) - len(kept), tuple(sorted(kept)))


def _merge(
    target: dict[str, torch.Tensor],
    source: dict[str, torch.Tensor],
    head: frozenset[str],
    path: Path,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The target's state with the source's tensors; the keys kept from the target."""
    missing = sorted(set(target) - set(source) - head)
    extra = sorted(set(source) - set(target) - head)
    if missing or extra:
        which, keys = ("missing", missing) if missing else ("unexpected", extra)
        raise InitWeightsError(
            f"{path}: {len(keys)} tensor(s) {which} (another backbone?), first "
            f"{keys[0]}; only the classifier may differ"
        )
    merged, kept = dict(target), []
    for key, value in target.items():
        theirs = source.get(key)
        if theirs is not None and theirs.shape == value.shape:
            merged[key] = theirs.to(value.dtype)
            continue
        if key not in head:
            raise InitWeightsError(
                f"{path}: {key} has shape {tuple(theirs.shape)} there and "
                f"{tuple(value.shape)} here (another width or depth?); only the classifier "
                "may differ"
            )
        kept.append(key)
    return merged, kept
