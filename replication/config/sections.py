"""The experiment config's sections: frozen pydantic records with a default, unit and meaning.

Key names follow PySlowFast's (lower-cased) so SlowFast users recognise them; the JSON schema
derived from these models (:mod:`replication.config.docs`) is what the Snakemake workflow and
editors validate against. Types and ranges are checked here by pydantic; rules that tie several
keys together live in :mod:`replication.config.rules`; reading YAML and ``--set`` overrides in
:mod:`replication.config.load`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


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
UnitFraction = Annotated[float, Field(gt=0, le=1)]
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
    resample_on: Literal["worker", "device"] = Field(
        "worker",
        description="where training clips are scaled, flipped and normalised: 'worker' (loader "
        "processes) or 'device' (workers only decode and cut uint8 crop boxes; the training "
        "device finishes them, so CPU workers keep up at the coarse grids)",
    )
    temporal_sampling: Literal["stride", "segments"] = Field(
        "stride",
        description="how a clip's frames are chosen: 'stride' (T frames sampling_rate apart, at "
        "a random offset in training; Kinetics, Charades) or 'segments' (the video cut into T "
        "equal segments, one random frame from each in training, their middles in tests; "
        "PySlowFast's SSv2 reader); T is the grid's, so segments follow the long cycle",
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
    copies: Annotated[tuple[PositiveInt, ...], _AsTuple] = Field(
        (),
        description="short sides of the multi-resolution store's copies (python -m "
        "replication.data.copies) that training reads when frames come from the files: each "
        "grid reads the smallest copy at least its jitter_min, evaluation the originals; "
        "[] = originals only",
    )


class TrainConfig(BaseModel):
    """Batch, processes and the cadence of evaluations and checkpoints."""

    model_config = _FROZEN

    batch_size: int = Field(64, gt=0, description="global mini-batch at the base shape, in clips")
    num_gpus: int = Field(1, gt=0, description="training processes (GPUs; 1 on CPU)")
    eval_period: int = Field(10, gt=0, description="epochs between evaluations without long cycle")
    eval_during_training: bool = Field(
        True,
        description="validation evaluations during training, at eval_period (multigrid: "
        "eval_freq per long-cycle phase) as the reference; false leaves the final test and the "
        "curve points, all the tables use, and saves their time (and precise BN's) in total_s",
    )
    checkpoint_period: int = Field(
        10, gt=0, description="epochs between checkpoints without long cycle"
    )
    seed: int = Field(0, ge=0, description="random seed for model init, sampling and augmentation")
    log_period: int = Field(10, gt=0, description="iterations between 'train' events")
    precise_bn: bool = Field(
        True, description="recompute BN statistics before each evaluation and the final test"
    )
    precise_bn_batches: int = Field(200, gt=0, description="batches of the precise-BN pass")
    curve_fractions: Annotated[tuple[UnitFraction, ...], _AsTuple] = Field(
        (),
        description="evaluate at the test shape (1 view, after precise BN on a copy of the "
        "model) once each fraction of the baseline's training compute is spent, and at the end: "
        "accuracy-against-wall-clock curves comparable across variants; () = none",
    )
    curve_baseline_epochs: int = Field(
        0,
        ge=0,
        description="the baseline length curve_fractions refer to, in epochs; 0 = "
        "solver.max_epoch (a budget-matched baseline names the full baseline's)",
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="arithmetic on CUDA: 'fp32' (the paper's reference; cuDNN may use TF32), "
        "'bf16' or 'fp16' autocast (fp16 with a gradient scaler); CPUs train in fp32",
    )
    memory_format: Literal["contiguous", "channels_last_3d"] = Field(
        "contiguous",
        description="layout of weights and clips on CUDA: 'contiguous' (N, C, T, H, W; the "
        "reference) or 'channels_last_3d' (N, T, H, W, C); CPUs use contiguous",
    )
    cudnn_benchmark: bool = Field(
        True, description="cuDNN times its algorithms once per shape on CUDA (off if deterministic)"
    )
    deterministic: bool = Field(False, description="deterministic kernels (slower; exact resume)")
    auto_resume: bool = Field(True, description="resume from the run folder's last checkpoint")
    init_weights: str = Field(
        "",
        description="start from these weights (fine-tuning): a finished run's folder (its last "
        "checkpoint) or a checkpoint file; '' = random init. Tensors whose shape differs (the "
        "classifier, for another class count) keep their new init; BN statistics are loaded; "
        "optimizer and epoch start afresh",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        # Until 2026-12 the keys were mixed_precision (true: bf16 autocast on CUDA) and
        # channels_last (true by default). A config that still says them loads with the meaning
        # it had; stored run configs carry them too and are compared on the keys both sides have.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new, value in (
            ("mixed_precision", "precision", {True: "bf16", False: "fp32"}),
            ("channels_last", "memory_format", {True: "channels_last_3d", False: "contiguous"}),
        ):
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"{old} was renamed {new}; give {new} only")
            if not isinstance(data[old], bool):
                raise ValueError(f"{old} (renamed {new}) must be true or false")
            data[new] = value[data.pop(old)]
        return data


# Depths each backbone family can be built at (checked when a config loads, so a depth the
# family cannot build fails `snakemake -n`, not the training job). ResNet families: 18 (basic
# blocks), 50 and 101 (bottlenecks); pytorchvideo's R(2+1)D and CSN know bottleneck depths only;
# X3D counts residual blocks: 11 (depth factor 1.0), 26 (2.2: X3D-XS/S/M), 55 (5.0: X3D-L).
BACKBONE_DEPTHS: dict[str, tuple[int, ...]] = {
    "slow": (18, 50, 101),
    "i3d": (18, 50, 101),
    "i3d_nl": (18, 50, 101),  # I3D with non-local blocks in res3 and res4 (Wang et al. 2018)
    "slowfast": (18, 50, 101),  # pytorchvideo's SlowFast-18 has one bottleneck per stage
    "x3d": (11, 26, 55),
    "r2plus1d": (50, 101),
    "csn": (50, 101),
}
Arch = Literal["slow", "i3d", "i3d_nl", "slowfast", "x3d", "r2plus1d", "csn"]


class ModelConfig(BaseModel):
    """Backbone built from pytorchvideo (every head pools adaptively, so every grid runs)."""

    model_config = _FROZEN

    arch: Arch = Field("slowfast", description="backbone family")
    depth: int = Field(
        50, gt=0, description="ResNet depth (18, 50, 101) or X3D size in blocks (11, 26, 55)"
    )
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
    ensemble: Literal["mean", "max"] = Field(
        "mean",
        description="how a video's view scores combine: 'mean' of softmax (sigmoid for "
        "multi-label) scores, PySlowFast's 'sum', or their 'max' (its Charades configs)",
    )


class SolverConfig(BaseModel):
    """Learning-rate policy and SGD settings of the *baseline*; multigrid rewrites them."""

    model_config = _FROZEN

    base_lr: float = Field(0.1, gt=0, description="learning rate at the base batch size")
    lr_reference_batch: int = Field(
        0,
        ge=0,
        description="global batch the learning rates are written for; 0: as written. Otherwise "
        "base_lr, warmup_start_lr and cosine_end_lr scale by train.batch_size / this (linear "
        "scaling), so a config for 8 GPUs runs on 1 or 128 with the LR the paper's rule gives",
    )
    lr_policy: Literal["steps", "cosine"] = Field(
        "steps", description="'steps': base_lr x lrs[stage]; 'cosine': half cosine to cosine_end_lr"
    )
    steps: Annotated[tuple[Annotated[int, Field(ge=0)], ...], _AsTuple] = Field(
        (0, 94, 154, 196),
        description="epochs where LR stages start (first 0); with long cycle they bound the "
        "cycles; a cosine config without long cycle may give none",
    )
    lrs: Annotated[tuple[PositiveFloat, ...] | None, _AsTuple] = Field(
        None,
        description="LR multiplier per stage (policy 'steps'); null means gamma**stage; entries "
        "past the last step are not used (PySlowFast ships such configs)",
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
    long_cycle_order: Literal["coarse_to_fine", "random"] = Field(
        "coarse_to_fine",
        description="order of the long-cycle shapes inside each LR stage: 'coarse_to_fine' (the "
        "method) or 'random', a permutation per stage drawn from order_seed (the paper's "
        "ablation); the fine-tune phase stays last",
    )
    order_seed: int = Field(0, ge=0, description="seed of the 'random' long-cycle order")
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
