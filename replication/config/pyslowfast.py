"""PySlowFast's YAML configs, read as their users have them, written as this suite's config.

PySlowFast users hold configs in its key names (``SOLVER.BASE_LR``, ``MULTIGRID.LONG_CYCLE``),
often inheriting from a ``_BASE_`` file. :func:`translate_file` follows the ``_BASE_`` chain
(paths relative to the file that names them; the child's keys win, mappings merge key by key),
fills every key the file leaves out with PySlowFast's own default (its defaults differ from
ours: a cosine LR policy, 300 epochs, SlowFast alpha 8, Nesterov momentum), and maps each key
to ours. Values this suite cannot honour are refused in one line; keys with no counterpart here
(data paths, checkpoints to start from, tensorboard, ...) are listed as notes, so nothing is
dropped silently. The result is validated as any config is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from replication.config.errors import ConfigError
from replication.config.load import read_yaml, validate_config
from replication.config.rules import config_notes
from replication.config.sections import RunConfig

BASE_KEY = "_BASE_"
_ROOT2 = math.sqrt(0.5)


def _same(value: Any) -> Any:
    return value


def _policy(value: Any) -> str:
    policies = {"steps_with_relative_lrs": "steps", "cosine": "cosine"}
    if value not in policies:
        raise ConfigError("SOLVER.LR_POLICY", f"{value!r} has no counterpart; use one of "
                          f"{sorted(policies)}")  # fmt: skip
    return policies[value]


def _arch(value: Any) -> str:
    if value not in ("slowfast", "slow", "i3d", "x3d"):
        raise ConfigError("MODEL.ARCH", f"{value!r} is not built here (slowfast, slow, i3d, x3d)")
    return str(value)


def _optional_list(value: Any) -> Any:
    return list(value) if value else None  # PySlowFast's [] means "not given"


def _pairs(value: Any) -> list[list[float]]:
    return [list(pair) for pair in value]


def _ensemble(value: Any) -> str:
    methods = {"sum": "mean", "max": "max"}  # a sum and a mean rank a video's classes alike
    if value not in methods:
        raise ConfigError("DATA.ENSEMBLE_METHOD", f"{value!r} is not one of {sorted(methods)}")
    return methods[value]


def _temporal_sampling(value: Any) -> str:
    # PySlowFast's SSv2 reader samples one frame per segment; its other readers use a stride.
    return "segments" if str(value).lower() == "ssv2" else "stride"


# PySlowFast key -> (its default, our key, conversion). Its defaults are the ones of its
# slowfast/config/defaults.py; every key here is written out, so the file need not set it.
KEYS: dict[str, tuple[Any, str, Callable[[Any], Any]]] = {
    "NUM_GPUS": (1, "train.num_gpus", _same),
    "RNG_SEED": (1, "train.seed", _same),
    "LOG_PERIOD": (10, "train.log_period", _same),
    "TRAIN.BATCH_SIZE": (64, "train.batch_size", _same),
    "TRAIN.EVAL_PERIOD": (10, "train.eval_period", _same),
    "TRAIN.CHECKPOINT_PERIOD": (10, "train.checkpoint_period", _same),
    "TRAIN.AUTO_RESUME": (True, "train.auto_resume", _same),
    "BN.USE_PRECISE_STATS": (False, "train.precise_bn", _same),
    "BN.NUM_BATCHES_PRECISE": (200, "train.precise_bn_batches", _same),
    "TEST.BATCH_SIZE": (8, "test.batch_size", _same),
    "TEST.NUM_ENSEMBLE_VIEWS": (10, "test.num_ensemble_views", _same),
    "TEST.NUM_SPATIAL_CROPS": (3, "test.num_spatial_crops", _same),
    "DATA.NUM_FRAMES": (8, "data.num_frames", _same),
    "DATA.SAMPLING_RATE": (8, "data.sampling_rate", _same),
    "DATA.TRAIN_JITTER_SCALES": ([256, 320], "data.train_jitter_scales", list),
    "DATA.TRAIN_CROP_SIZE": (224, "data.train_crop_size", _same),
    "DATA.TEST_CROP_SIZE": (256, "data.test_crop_size", _same),
    "DATA.RANDOM_FLIP": (True, "data.random_flip", _same),
    "DATA.ENSEMBLE_METHOD": ("sum", "test.ensemble", _ensemble),
    "TRAIN.DATASET": ("kinetics", "data.temporal_sampling", _temporal_sampling),
    "DATA_LOADER.NUM_WORKERS": (8, "data.num_workers", _same),
    "DATA_LOADER.PIN_MEMORY": (True, "data.pin_memory", _same),
    "MODEL.ARCH": ("slowfast", "model.arch", _arch),
    "MODEL.NUM_CLASSES": (400, "model.num_classes", _same),
    "MODEL.DROPOUT_RATE": (0.5, "model.dropout", _same),
    "RESNET.DEPTH": (50, "model.depth", _same),
    "RESNET.WIDTH_PER_GROUP": (64, "model.width", _same),
    "SLOWFAST.ALPHA": (8, "model.slowfast_alpha", _same),
    "SLOWFAST.BETA_INV": (8, "model.slowfast_beta_inv", _same),
    "SOLVER.BASE_LR": (0.1, "solver.base_lr", _same),
    "SOLVER.LR_POLICY": ("cosine", "solver.lr_policy", _policy),
    "SOLVER.COSINE_END_LR": (0.0, "solver.cosine_end_lr", _same),
    "SOLVER.GAMMA": (0.1, "solver.gamma", _same),
    "SOLVER.STEPS": ([], "solver.steps", list),
    "SOLVER.LRS": ([], "solver.lrs", _optional_list),
    "SOLVER.MAX_EPOCH": (300, "solver.max_epoch", _same),
    "SOLVER.MOMENTUM": (0.9, "solver.momentum", _same),
    "SOLVER.NESTEROV": (True, "solver.nesterov", _same),
    "SOLVER.WEIGHT_DECAY": (1e-4, "solver.weight_decay", _same),
    "SOLVER.WARMUP_EPOCHS": (0.0, "solver.warmup_epochs", _same),
    "SOLVER.WARMUP_START_LR": (0.01, "solver.warmup_start_lr", _same),
    "MULTIGRID.EPOCH_FACTOR": (1.5, "multigrid.epoch_factor", _same),
    "MULTIGRID.SHORT_CYCLE": (False, "multigrid.short_cycle", _same),
    "MULTIGRID.SHORT_CYCLE_FACTORS": ([0.5, _ROOT2], "multigrid.short_cycle_factors", list),
    "MULTIGRID.LONG_CYCLE": (False, "multigrid.long_cycle", _same),
    "MULTIGRID.LONG_CYCLE_FACTORS": (
        [[0.25, _ROOT2], [0.5, _ROOT2], [0.5, 1], [1, 1]],
        "multigrid.long_cycle_factors",
        _pairs,
    ),
    "MULTIGRID.BN_BASE_SIZE": (8, "multigrid.bn_base_size", _same),
    "MULTIGRID.EVAL_FREQ": (3, "multigrid.eval_freq", _same),
}
# Keys whose PySlowFast default is also what this suite does: no note when a file sets them so.
AGREED = {"SOLVER.OPTIMIZING_METHOD": "sgd", "MODEL.LOSS_FUNC": "cross_entropy",
          "BN.NORM_TYPE": "batchnorm", "TRAIN.ENABLE": True, "TEST.ENABLE": True}  # fmt: skip
REFUSED = {"SOLVER.OPTIMIZING_METHOD": "only SGD is implemented"}


# The non-local blocks PySlowFast's I3D_NLN_8x8_R50/R101 configs place (per stage, per pathway,
# 0-based blocks) with its default pool and groups: what this suite builds as model.arch i3d_nl.
_I3D_NONLOCAL = {
    "NONLOCAL.LOCATION": [[[]], [[1, 3]], [[1, 3, 5]], [[]]],
    "NONLOCAL.INSTANTIATION": "softmax",
    "NONLOCAL.GROUP": [[1], [1], [1], [1]],
    "NONLOCAL.POOL": [[[1, 2, 2], [1, 2, 2]]] * 4,
}


def _nonlocal(given: Mapping[str, Any], model: dict[str, Any], source: str) -> set[str]:
    """Map an I3D config with I3D-NL's non-local blocks to ``i3d_nl``; the NONLOCAL keys read.

    Without non-local blocks nothing is read (the keys are noted as any other). Blocks placed or
    made otherwise, or on another architecture, are refused: this suite would build none.
    """
    location = given.get("NONLOCAL.LOCATION", [])
    if not any(index for stage in location for pathway in stage for index in pathway):
        return set()
    for key, wanted in _I3D_NONLOCAL.items():
        value = given.get(key, "dot_product" if key.endswith("INSTANTIATION") else wanted)
        if model["arch"] != "i3d" or value != wanted:
            raise ConfigError(
                key, f"{value!r} with MODEL.ARCH {model['arch']!r}: non-local blocks are built "
                f"only as PySlowFast's I3D_NLN ({key} {wanted!r}, MODEL.ARCH 'i3d')", source,
            )  # fmt: skip
    model["arch"] = "i3d_nl"
    return set(_I3D_NONLOCAL)


def read_with_bases(path: Path | str, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping with its ``_BASE_`` chain laid under it (the file's keys win).

    Raises:
        ConfigError: a missing or circular base, naming the file that names it.
    """
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(BASE_KEY, f"circular: {' -> '.join(map(str, (*_seen, path)))}", str(path))
    raw = read_yaml(path)
    base = raw.pop(BASE_KEY, None)
    if base is None:
        return raw
    base_path = Path(str(base)).expanduser()
    base_path = base_path if base_path.is_absolute() else path.parent / base_path
    if not base_path.is_file():
        raise ConfigError(BASE_KEY, f"no such base config {base_path}", str(path))
    return _merge(read_with_bases(base_path, (*_seen, path)), raw)


def _merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def translate(raw: Mapping[str, Any], source: str = "") -> tuple[dict[str, Any], list[str]]:
    """A PySlowFast mapping (bases merged) as our nested config mapping, and notes.

    Raises:
        ConfigError: naming ``source`` and the PySlowFast key whose value cannot be honoured.
    """
    given = _flatten(raw)
    ours: dict[str, dict[str, Any]] = {}
    notes = []
    for key, (default, target, convert) in KEYS.items():
        try:
            value = convert(given.get(key, default))
        except ConfigError as err:
            raise err.with_source(source) from None
        section, name = target.split(".")
        ours.setdefault(section, {})[name] = value
    read = _nonlocal(given, ours["model"], source)
    for key, value in given.items():
        if key in KEYS or key in read or AGREED.get(key, object()) == value:
            continue
        if key in REFUSED:
            raise ConfigError(key, f"{value!r}: {REFUSED[key]}", source)
        if key.startswith("MULTIGRID.") and key.split(".")[1] in ("DEFAULT_B", "DEFAULT_T",
                                                                  "DEFAULT_S"):  # fmt: skip
            continue  # set by PySlowFast at run time; meaningless in a file
        notes.append(f"{key}: {value!r} not read (no counterpart in this suite)")
    if ours["model"]["arch"] == "x3d":
        notes.append("RESNET.DEPTH, RESNET.WIDTH_PER_GROUP: X3D sizes differ; check model.depth")
    return ours, notes


def translate_file(path: Path | str) -> tuple[RunConfig, dict[str, Any], list[str]]:
    """Read a PySlowFast YAML file: our validated config, its mapping, and the notes.

    Raises:
        ConfigError: naming the file and key at fault (PySlowFast's key, or ours once mapped).
    """
    ours, notes = translate(read_with_bases(path), str(path))
    try:
        cfg = validate_config(ours)
    except ConfigError as err:
        raise err.with_source(f"{path} (as this suite's config)") from None
    return cfg, ours, notes + config_notes(cfg)


def render_translation(path: Path | str, ours: Mapping[str, Any], notes: list[str]) -> str:
    """Our config as a YAML file that says where it came from and what was not read."""
    lines = [f"# Translated from PySlowFast's {path} by `python -m replication pyslowfast-config`"]
    lines += [f"# note: {note}" for note in notes]
    return "\n".join(lines) + "\n" + yaml.safe_dump(dict(ours), sort_keys=False)
