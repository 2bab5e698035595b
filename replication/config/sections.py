"""Experiment configuration: frozen, validated records loaded from YAML plus ``--set`` overrides.

Key names follow PySlowFast's (lower-cased) so SlowFast users recognise them; every key has a
default, a unit and a description, and the JSON schema derived from these models is what the
Snakemake workflow validates against.  Types and ranges are checked by pydantic; the rules that
tie several keys together are checked in :func:`_check_invariants`; the few that only show once
the multigrid schedule is computed (a batch that sub-batch BN cannot split, say) are checked by
:func:`replication.schedule.build_schedule`.  Every failure is a :class:`ConfigError`: one line
naming the file and the key.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from replication.config.errors import ConfigError
from replication.schedule.build import build_schedule

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "MultigridConfig",
    "RunConfig",
    "SolverConfig",
    "TestConfig",
    "TrainConfig",
    "load_config",
    "parse_override",
]


def _listlike_to_tuple(value: Any) -> Any:
    # YAML gives lists; the frozen config stores tuples so nothing downstream can mutate it.
    return tuple(value) if isinstance(value, list) else value


def _on_off(value: Any) -> Any:
    # YAML 1.1 reads a bare on/off as a boolean; the user meant the word.
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


_AsTuple = BeforeValidator(_listlike_to_tuple)
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Pair = Annotated[tuple[PositiveInt, PositiveInt], _AsTuple]
FactorPair = Annotated[tuple[PositiveFloat, PositiveFloat], _AsTuple]
_FROZEN = ConfigDict(strict=True, extra="forbid", frozen=True)


class DataConfig(BaseModel):
    """Clip shape and sampling (the *base shape* of the paper: T frames of S x S pixels)."""

    model_config = _FROZEN

    num_frames: int = Field(8, gt=0, description="frames per clip, T (fast pathway for SlowFast)")
    sampling_rate: int = Field(
        8, gt=0, description="temporal stride between sampled frames, in frames"
    )
    train_crop_size: int = Field(224, gt=0, description="training crop side S, in pixels")
    test_crop_size: int = Field(256, gt=0, description="test crop side, in pixels")
    train_jitter_scales: Pair = Field(
        (256, 320), description="[min, max] short side of the random training resize, in pixels"
    )
    random_flip: bool = Field(
        True,
        description="flip training clips left-right at random; off where direction is the label",
    )
    format: Literal["auto", "csv", "kinetics", "ssv2", "charades", "folder"] = Field(
        "auto", description="annotation format; 'auto' guesses from the file"
    )
    train_annotations: str = Field(
        "data/synthetic/train.csv", description="training annotation file (or folder), path"
    )
    val_annotations: str = Field(
        "data/synthetic/val.csv", description="validation/test annotation file (or folder), path"
    )
    video_root: str = Field(
        "", description="folder video paths are relative to; '' = beside annotations"
    )
    num_workers: int = Field(
        -1, ge=-1, description="loader worker processes; -1 chooses for the machine"
    )
    pin_memory: bool = Field(True, description="pin host memory for GPU copies (ignored on CPU)")
    prefetch_factor: int = Field(4, gt=0, description="batches each worker prepares ahead")
    cache: Annotated[Literal["auto", "on", "off"], BeforeValidator(_on_off)] = Field(
        "auto", description="decoded-frame cache; 'auto' uses it when it fits in cache_max_gb"
    )
    cache_max_gb: float = Field(4.0, ge=0, description="largest automatic frame cache, in GiB")
    cache_dir: str = Field(
        "", description="frame cache folder; '' = .frame_cache beside annotations"
    )


class TrainConfig(BaseModel):
    """Batch, processes and the cadence of evaluations and checkpoints."""

    model_config = _FROZEN

    batch_size: int = Field(64, gt=0, description="global mini-batch at the base shape, in clips")
    num_gpus: int = Field(1, gt=0, description="training processes (GPUs; 1 on CPU)")
    eval_period: int = Field(10, gt=0, description="epochs between evaluations without long cycle")
    checkpoint_period: int = Field(
        10, gt=0, description="epochs between checkpoints without long cycle"
    )
    seed: int = Field(0, ge=0, description="random seed for model init, sampling and augmentation")
    log_period: int = Field(10, gt=0, description="iterations between 'train' events")
    precise_bn: bool = Field(True, description="recompute BN statistics before evals/checkpoints")
    precise_bn_batches: int = Field(200, gt=0, description="batches of the precise-BN pass")
    mixed_precision: bool = Field(True, description="bf16/fp16 autocast on CUDA (off on CPU)")
    channels_last: bool = Field(True, description="channels-last 3D memory format on CUDA")
    deterministic: bool = Field(False, description="deterministic kernels (slower; exact resume)")
    auto_resume: bool = Field(True, description="resume from the run folder's last checkpoint")


class ModelConfig(BaseModel):
    """Backbone built from pytorchvideo (every head pools adaptively, so every grid runs)."""

    model_config = _FROZEN

    arch: Literal["slow", "i3d", "slowfast", "x3d", "r2plus1d", "csn"] = Field(
        "slowfast", description="backbone family"
    )
    depth: int = Field(50, gt=0, description="ResNet depth (18, 50, 101) or X3D size in blocks")
    width: int = Field(64, gt=0, description="stem channels; the network scales with it")
    num_classes: int = Field(0, ge=0, description="output classes; 0 takes them from the data")
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout before the classifier")
    slowfast_alpha: int = Field(4, gt=0, description="SlowFast: fast/slow frame-rate ratio")
    slowfast_beta_inv: int = Field(8, gt=0, description="SlowFast: slow/fast channel ratio")


class TestConfig(BaseModel):
    """Final multi-view test at the base shape."""

    model_config = _FROZEN

    num_ensemble_views: int = Field(10, gt=0, description="temporal clips per test video")
    num_spatial_crops: int = Field(3, gt=0, description="spatial crops per clip (1 or 3)")
    batch_size: int = Field(16, gt=0, description="global test batch, in clips")


class SolverConfig(BaseModel):
    """Learning-rate policy and SGD settings of the *baseline*; multigrid rewrites them."""

    model_config = _FROZEN

    base_lr: float = Field(0.1, gt=0, description="learning rate at the base batch size")
    lr_policy: Literal["steps", "cosine"] = Field(
        "steps", description="'steps': base_lr x lrs[stage]; 'cosine': half cosine to cosine_end_lr"
    )
    steps: Annotated[tuple[Annotated[int, Field(ge=0)], ...], _AsTuple] = Field(
        (0, 94, 154, 196),
        description="epochs where LR stages start (first 0); with long cycle they bound the cycles",
    )
    lrs: Annotated[tuple[PositiveFloat, ...] | None, _AsTuple] = Field(
        None, description="LR multiplier per stage (policy 'steps'); null means gamma**stage"
    )
    gamma: float = Field(0.1, gt=0, description="LR ratio between stages (long cycle and lrs=null)")
    max_epoch: int = Field(239, gt=0, description="training length of the baseline, in epochs")
    warmup_epochs: float = Field(0.0, ge=0, description="linear warmup length, in epochs")
    warmup_start_lr: float = Field(0.01, ge=0, description="learning rate at epoch 0 of warmup")
    cosine_end_lr: float = Field(0.0, ge=0, description="final learning rate of policy 'cosine'")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(1e-4, ge=0, description="L2 weight decay")
    nesterov: bool = Field(False, description="Nesterov momentum")


class MultigridConfig(BaseModel):
    """Multigrid schedule (Wu et al. 2020, section 3); defaults are the paper's."""

    model_config = _FROZEN

    long_cycle: bool = Field(False, description="step through coarse-to-fine shapes per LR stage")
    short_cycle: bool = Field(False, description="change the spatial grid every iteration")
    epoch_factor: float = Field(1.5, gt=0, description="multigrid epochs / baseline epochs")
    long_cycle_factors: Annotated[tuple[FactorPair, ...], _AsTuple] = Field(
        ((0.25, 0.5**0.5), (0.5, 0.5**0.5), (0.5, 1.0), (1.0, 1.0)),
        min_length=1,
        description="[T factor, S factor] of each long-cycle shape, coarse to fine",
    )
    short_cycle_factors: Annotated[tuple[Annotated[float, Field(gt=0, le=1)], ...], _AsTuple] = (
        Field(
            (0.5, 0.5**0.5),
            min_length=1,
            description="spatial factors of the short-cycle grids before the full-size one",
        )
    )
    fine_tune: bool = Field(
        True,
        description="end with a fine-tune phase at the base shape (the last LR stage); false runs "
        "the long cycle in every LR stage; no effect without long cycle",
    )
    bn_base_size: int = Field(8, gt=0, description="clips per BatchNorm statistics group")
    eval_freq: int = Field(3, gt=0, description="evaluations and checkpoints per long-cycle shape")


class RunConfig(BaseModel):
    """One experiment: the sections above, each optional in YAML."""

    model_config = _FROZEN

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    test: TestConfig = Field(default_factory=TestConfig)
    solver: SolverConfig = Field(default_factory=SolverConfig)
    multigrid: MultigridConfig = Field(default_factory=MultigridConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict with lists, ready for JSON or YAML."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$|^[-+]?\d[\d_]*\.\d*$|^[-+]?\.\d+$"),
    list("-+0123456789."),
)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a config file into a dict (empty file: no overrides), or raise ConfigError."""
    if not path.is_file():
        raise ConfigError("", "no such config file", str(path))
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError("", f"invalid YAML: {where}{problem}", str(path)) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise ConfigError("", f"top level must be a mapping of sections, got {kind}", str(path))
    return raw


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` into the dotted key and its YAML-parsed value.

    >>> parse_override("solver.max_epoch=30")
    ('solver.max_epoch', 30)
    >>> parse_override("solver.steps=[0, 10, 20]")
    ('solver.steps', [0, 10, 20])
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("", f"override must look like section.key=value, got {text!r}", "--set")
    try:
        parsed = yaml.load(value, Loader=_Loader)
    except yaml.YAMLError:
        raise ConfigError(key, f"cannot parse value {value!r}", "--set") from None
    return key, parsed


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys.extend(_known_keys(sub, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, _known_keys(RunConfig), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key{hint}"


def _apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    if key not in _known_keys(RunConfig):
        raise ConfigError(key, _unknown_key_message(key), "--set")
    section, name = key.split(".", 1)
    node = raw.setdefault(section, {})
    if not isinstance(node, dict):
        raise ConfigError(section, "must be a mapping of keys")
    node[name] = value


def _describe_error(err: dict[str, Any]) -> ConfigError:
    loc = err["loc"]
    if err["type"] == "missing" and loc and isinstance(loc[-1], int):
        # A short list: name the list, not the index pydantic found empty.
        return ConfigError(".".join(str(p) for p in loc[:-1]), "too few values")
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        return ConfigError(key, _unknown_key_message(key))
    value = err.get("input")
    got = "" if isinstance(value, dict) else f", got {value!r}"
    return ConfigError(key, f"{err['msg'][0].lower()}{err['msg'][1:]}{got}")


def validate_config(raw: dict[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from a nested dict, raising the first problem as ConfigError."""
    try:
        cfg = RunConfig.model_validate(raw)
    except pydantic.ValidationError as err:
        raise _describe_error(err.errors()[0]) from None
    _check_invariants(cfg)
    # The schedule reveals the rest (zero batch factors, batches sub-batch BN cannot split).
    build_schedule(cfg)
    return cfg


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML experiment config, apply ``key=value`` overrides and validate everything.

    Raises:
        ConfigError: naming the file (or ``--set``) and the key at fault.
    """
    path = Path(path)
    raw = read_yaml(path)
    overridden = set()
    for text in overrides:
        key, value = parse_override(text)
        _apply_override(raw, key, value)
        overridden.add(key)
    try:
        return validate_config(raw)
    except ConfigError as err:
        source = f"{path} (--set {err.key})" if err.key in overridden else str(path)
        raise err.with_source(source) from None


# --------------------------------------------------------------------------- cross-key rules


def _check_increasing(key: str, values: Sequence[int]) -> None:
    for a, b in itertools.pairwise(values):
        if b <= a:
            raise ConfigError(key, f"must be strictly increasing, got {list(values)}")


def _check_invariants(cfg: RunConfig) -> None:
    """Rules that involve more than one key; the first violated one is raised."""
    data, train, solver, mg = cfg.data, cfg.train, cfg.solver, cfg.multigrid
    low, high = data.train_jitter_scales
    if low > high:
        raise ConfigError("data.train_jitter_scales", f"min {low} is larger than max {high}")
    if train.batch_size % train.num_gpus:
        raise ConfigError(
            "train.batch_size",
            f"{train.batch_size} clips do not divide over train.num_gpus={train.num_gpus}",
        )
    if not solver.steps or solver.steps[0] != 0:
        raise ConfigError("solver.steps", f"must start at epoch 0, got {list(solver.steps)}")
    _check_increasing("solver.steps", solver.steps)
    if solver.steps[-1] >= solver.max_epoch:
        raise ConfigError(
            "solver.steps",
            f"last step {solver.steps[-1]} must be before solver.max_epoch={solver.max_epoch}",
        )
    if solver.lrs is not None and len(solver.lrs) != len(solver.steps):
        raise ConfigError(
            "solver.lrs", f"needs one entry per step ({len(solver.steps)}), got {len(solver.lrs)}"
        )
    if solver.warmup_epochs > solver.max_epoch:
        raise ConfigError(
            "solver.warmup_epochs",
            f"{solver.warmup_epochs} is longer than solver.max_epoch={solver.max_epoch}",
        )
    if solver.lr_policy == "cosine" and solver.cosine_end_lr >= solver.base_lr:
        raise ConfigError("solver.cosine_end_lr", "must be below solver.base_lr for 'cosine'")
    if mg.long_cycle:
        _check_long_cycle(cfg)
    if mg.short_cycle or mg.long_cycle:
        for factor in mg.short_cycle_factors:
            if round(factor * data.train_crop_size) < 1:
                raise ConfigError(
                    "multigrid.short_cycle_factors",
                    f"{factor} gives a 0-pixel crop at data.train_crop_size={data.train_crop_size}",
                )
    if not mg.long_cycle and mg.short_cycle and math.floor(solver.max_epoch * mg.epoch_factor) < 1:
        raise ConfigError("multigrid.epoch_factor", "leaves no epoch to train")


def _check_long_cycle(cfg: RunConfig) -> None:
    data, solver, mg = cfg.data, cfg.solver, cfg.multigrid
    if mg.fine_tune and len(solver.steps) < 2:
        # Without the fine-tune phase a single stage (steps [0]) holds one long cycle.
        raise ConfigError(
            "solver.steps",
            "multigrid.long_cycle needs at least 2 steps: long cycles run between steps, "
            "the last stage is the fine-tune phase (multigrid.fine_tune)",
        )
    for t_factor, s_factor in mg.long_cycle_factors:
        if round(data.num_frames * t_factor) < 1:
            raise ConfigError(
                "multigrid.long_cycle_factors",
                f"[{t_factor}, {s_factor}] gives 0 frames at data.num_frames={data.num_frames}",
            )
        if round(data.train_crop_size * s_factor) < 1:
            raise ConfigError(
                "multigrid.long_cycle_factors",
                f"[{t_factor}, {s_factor}] gives 0 pixels at "
                f"data.train_crop_size={data.train_crop_size}",
            )
