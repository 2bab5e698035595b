"""Synthetic video data set whose classes need the base sampling grid, or that every grid sees.

Multigrid training (Wu et al. 2020, sections 3.1-3.2) spends most iterations on coarse sampling
grids: T/4 frames at a random stride up to 4x larger, crops 1/sqrt(2) of the base, from videos
resized down by up to 2x. By default this data set is built so that a small 3D CNN trained only
on that coarsest grid scores far below one trained on the base grid, so a schedule must end on
the base grid to recover the accuracy; ``motions="change"`` (below) instead makes the temporal
half of every label visible on every grid, the paper's premise. Either way a small model learns
it on a CPU in minutes.

Class design. Label ``k`` is (motion ``k // 2``, texture ``k % 2``) of one *target* object:

- Motion, in normalised clip time so that any frame count shows the same event: ``right``
  (constant speed), ``left`` (same speed), ``reverse`` (right, then back left from a turning
  point in the middle third: temporal order) and ``fast`` (right at twice the speed). From two
  frames at an unknown stride, ``right`` and ``fast`` differ only by that stride, and ``reverse``
  looks like ``right`` or ``left``; eight frames at a fixed stride separate all four.
  With ``motions="change"`` the four events are colour drifts of the target over the clip
  instead (``brighten``, ``darken``, ``warm``, ``cool``; it moves right or left as a nuisance):
  any two frames at any stride and resolution tell them apart, one frame does not. That set
  tests a schedule on data whose coarse grids carry the signal, the paper's premise for
  Kinetics-like data; the default set tests what happens when they do not.
- Texture, a 1-pixel luma pattern (period 2 px) in two grey levels ``m +- d`` on the target's
  mean colour ``m``: ``stripes`` (vertical or horizontal lines) or ``checker``. Every 2x2 block
  of either averages to ``m``, so after 2x downsampling both become the same flat colour.
- A *distractor* (in half the videos) is flat in the colour ``m`` and does a random motion. Below
  full resolution it looks exactly like the target, so a coarse model cannot even tell whose
  motion to read; at full resolution the texture marks the target.
- Nuisances drawn per video: shapes (rectangle or ellipse), sizes, start positions, vertical
  drift, speed, turning point, stripe orientation, colours, and a background made of a slowly
  drifting low-frequency wave plus per-frame pixel noise.

Measured with a 181k-parameter 3D CNN, 3 min on one CPU thread, 60 train / 25 val clips per class
(32 frames, 64 px): base grid (8 frames at stride 4, crop 56) 96% val; coarsest grid only (2
frames at stride 4-16, resize to 32-64 px, crop 40) 16% at its own shape, 12% at the base shape;
chance 12.5%. Coarse in time only: 56%; coarse in space only: 11%.

Videos are H.264 through :mod:`replication.data.video_io` (crf 18 keeps 1-pixel luma patterns;
chroma is subsampled, so the textures live in luma only). Layout, Kinetics-like::

    DIR/videos/<split>/<class_name>/<split>_<class_name>_<k>.mp4
    DIR/train.csv, DIR/val.csv   # header path,label; path relative to DIR
    DIR/classes.json             # class names in label order
    DIR/README.md, manifest.json # the design; the parameters ("complete" once all is written)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from replication.data.video_io import write_video
from replication.io.atomic import atomic_write_text

# Two sets of temporal events. "timing" (the default) needs the base temporal grid: from two
# frames at an unknown stride `fast` looks like `right` and `reverse` like `right` or `left`, and
# small 3D CNNs do not even read the direction from two frames at a coarse spatial grid (measured:
# SlowFast and Slow R18 of width 8 learn only the texture half at 2 frames x 40 px). "change"
# keeps its event visible on every grid: the target's colour drifts over the clip (brighter,
# darker, warmer, cooler), so any two frames at any stride and resolution show which, while one
# frame does not (the start colour is random); the target moves right or left as a nuisance.
MOTION_SETS = {
    "timing": ("right", "left", "reverse", "fast"),
    "change": ("brighten", "darken", "warm", "cool"),
}
# Colour drift of the "change" events over the whole clip, grey levels per channel:
# (R, G, B) weights times CHANGE_RANGE, applied as (tau - 1/2) * weights * CHANGE_RANGE.
CHANGE_WEIGHTS = {
    "brighten": (1.0, 1.0, 1.0),
    "darken": (-1.0, -1.0, -1.0),
    "warm": (1.0, 0.0, -1.0),
    "cool": (-1.0, 0.0, 1.0),
}
# Measured on the smoke task (SlowFast R18 of width 8, 480 clips, seed 0; baseline vs long + short
# top-1): 90 -> 99.5 vs 98.5 %; 60 -> 99.5 vs 81.5 %; 45 (2-px textures) -> 92.5 vs 46 %. Below
# about 90 the coarsest grid's two frames, 4-16 frames apart, see too little drift to learn from.
CHANGE_RANGE = 90.0
MOTIONS = MOTION_SETS["timing"]
TEXTURES = ("stripes", "checker")


def class_names(motions: str = "timing") -> tuple[str, ...]:
    """Class names in label order for the motion set ``motions`` (a key of MOTION_SETS)."""
    if motions not in MOTION_SETS:
        raise ValueError(f"motions must be one of {sorted(MOTION_SETS)}, got {motions!r}")
    return tuple(f"{m}_{t}" for m in MOTION_SETS[motions] for t in TEXTURES)


CLASS_NAMES = class_names("timing")
SPLITS = ("train", "val")
DESIGN_VERSION = 1  # bump whenever rendering changes, so old data sets no longer match
_MODULE = "replication.data.synthetic"  # __name__ is "__main__" under python -m

# Rendering constants; lengths are fractions of the frame size.
OBJECT_SIZE = (0.2, 0.3)  # width and height range of target and distractor (object_pct=25)
TRAVEL = (0.24, 0.3)  # distance covered over the clip by `right`/`left` (speed jitter)
FAST_FACTOR = 2.0  # `fast` covers this many times the `right` distance
TURN = (0.35, 0.65)  # normalised time at which `reverse` turns back
DRIFT = 0.08  # largest vertical drift over the clip
CONTRAST = (40.0, 70.0)  # texture half-contrast d, grey levels
NOISE = (3.0, 8.0)  # per-pixel background noise sigma, grey levels
DISTRACTOR_P = 0.5  # probability that a video has a distractor


_ABOUT = {  # README wording of each motion and texture
    "right": "moves right",
    "left": "moves left",
    "reverse": "moves right, then turns back left",
    "fast": "moves right at twice the speed",
    "brighten": "gets brighter (moving right or left)",
    "darken": "gets darker (moving right or left)",
    "warm": "gets redder and less blue (moving right or left)",
    "cool": "gets bluer and less red (moving right or left)",
    "stripes": "stripes (vertical or horizontal)",
    "checker": "checkerboard",
}
_README = """# Synthetic multigrid data set

Written by `python -m {module}` (its docstring explains the design). Label = motion and
{texture_px}-pixel texture of a *target* object; {distractor_pct} % of the videos add a flat
*distractor* in the target's mean colour. {about_motion} {about_texture}

| label | class | motion | texture |
|---|---|---|---|
{rows}

Parameters:

{params}

Files: `videos/<split>/<class>/*.mp4` (H.264, crf 18), `train.csv` and `val.csv` (`path,label`,
paths relative to this folder), `classes.json` (class names in label order).
"""


class DatasetExistsError(RuntimeError):
    """The output folder holds a different data set (or foreign files) and ``force`` is off."""


class _Track(NamedTuple):  # an object's integer top-left corner per frame, size and shape
    x: np.ndarray  # (T,)
    y: np.ndarray  # (T,)
    w: float
    h: float
    ellipse: bool


def render_video(
    class_index: int,
    rng: np.random.Generator,
    *,
    frames: int = 32,
    size: int = 64,
    texture_px: int = 1,
    distractor_pct: int = round(100 * DISTRACTOR_P),
    object_pct: int = 25,
    motions: str = "timing",
) -> np.ndarray:
    """Render one clip of class ``class_index`` (see the module docstring for the design).

    Args:
        class_index: label in ``range(len(CLASS_NAMES))``.
        rng: source of every random nuisance; the same state gives the same clip.
        frames: number of frames T; the motion spans the clip whatever T is.
        size: frame height and width in pixels.
        texture_px: width of the texture's lines and checks, in pixels (1: the texture vanishes
            at half resolution; 2 and more: coarse grids see it, blurred).
        distractor_pct: percentage of videos with a distractor (the draw happens either way).
        object_pct: mean object width and height, in percent of the frame (sizes vary +-20 %).
            Multigrid's small short-cycle crops see down to 35 % of the frame side, as in the
            reference; objects of about 60 % stay in view there, objects of 25 % often do not.
        motions: the motion set, a key of :data:`MOTION_SETS`.

    Returns:
        (T, size, size, 3) uint8 RGB frames.
    """
    if not 0 <= class_index < len(CLASS_NAMES) or frames < 2 or size < 8 or texture_px < 1:
        raise ValueError(
            f"bad class_index {class_index} (0-7), frames {frames}, size {size} "
            f"or texture_px {texture_px}"
        )
    class_names(motions)  # a ValueError naming the sets for an unknown one
    moves = MOTION_SETS[motions]
    motion, texture = divmod(class_index, len(TEXTURES))
    tau = np.linspace(0.0, 1.0, frames)
    video = _background(rng, tau, size)  # (T, H, W, 3) float32

    # Draw every random number in a fixed order whatever the class, so that two classes rendered
    # from the same rng state differ only in what the class changes (tests rely on it).
    contrast = np.float32(rng.uniform(*CONTRAST))
    # room for the texture (and, for "change" events, the drift) inside 0..255
    margin = contrast + (CHANGE_RANGE / 2 if motions == "change" else 0)
    mean = np.clip(rng.uniform(0, 255, 3), margin, 255 - margin).astype(np.float32)
    event = moves[motion]
    if motions == "change":  # the label is the colour drift; the motion is a nuisance
        drift = np.float32(CHANGE_RANGE) * np.asarray(CHANGE_WEIGHTS[event], np.float32)
        event = ("right", "left")[rng.integers(2)]
    target = _object(rng, event, tau, size, object_pct)
    has_distractor = rng.random() < distractor_pct / 100
    distractor = _object(rng, MOTIONS[rng.integers(len(MOTIONS))], tau, size, object_pct)
    distractor_on_top = rng.random() < 0.5
    horizontal = rng.random() < 0.5

    target_mask = _mask(target, size)  # (T, H, W)
    distractor_mask = _mask(distractor, size) & has_distractor  # (T, H, W), empty without one
    if not distractor_on_top:
        video[distractor_mask] = mean
    pixels = np.arange(size)
    # (T, 1, W) and (T, H, 1); the texture moves along with the target
    px = (pixels[None, None, :] - target.x[:, None, None]) // texture_px % 2
    py = (pixels[None, :, None] - target.y[:, None, None]) // texture_px % 2
    if TEXTURES[texture] == "checker":
        parity = (px + py) % 2
    else:
        parity = np.broadcast_to(py if horizontal else px, target_mask.shape)
    sign = 2 * parity[target_mask].astype(np.float32) - 1  # (N,) +-1 over the target's pixels
    colour = mean  # (3,), or (N, 3) when it drifts over the clip
    if motions == "change":
        frame_of = np.nonzero(target_mask)[0]  # (N,) frame of each target pixel
        colour = mean + (tau[frame_of, None].astype(np.float32) - 0.5) * drift
    video[target_mask] = colour + contrast * sign[:, None]  # texture in luma: equal on R, G, B
    if distractor_on_top:
        video[distractor_mask] = mean
    video += 0.5  # round, then truncate below
    return np.clip(video, 0, 255, out=video).astype(np.uint8)


def _background(rng: np.random.Generator, tau: np.ndarray, size: int) -> np.ndarray:
    """A colour plus a slowly drifting low-frequency wave plus per-frame noise, (T, H, W, 3)."""
    base = rng.uniform(50, 205, 3).astype(np.float32)
    tint = rng.uniform(0.3, 1.0, 3).astype(np.float32)
    amplitude = rng.uniform(10, 35)
    angle = rng.uniform(0, 2 * np.pi)
    cycles = rng.uniform(0.5, 1.5)  # across the frame: low frequency, no texture confusion
    drift = rng.uniform(-1, 1)  # phase cycles over the clip
    phase = rng.uniform(0, 2 * np.pi)
    sigma = rng.uniform(*NOISE)
    # Uniform grey noise from raw bytes: 4x faster than Gaussian floats, as good a nuisance.
    noise = np.frombuffer(rng.bytes(len(tau) * size * size), np.uint8).reshape(-1, size, size, 1)
    noise = (noise - np.float32(127.5)) * np.float32(sigma * np.sqrt(12) / 256)  # std sigma
    yy, xx = np.mgrid[0:size, 0:size]
    k = 2 * np.pi * cycles / size
    spatial = k * (np.cos(angle) * xx + np.sin(angle) * yy) + phase  # (H, W)
    shift = 2 * np.pi * drift * tau  # (T,)
    wave = np.cos(spatial[None] + shift[:, None, None], dtype=np.float32)  # (T, H, W)
    video = wave[..., None] * (np.float32(amplitude) * tint) + base  # (T, H, W, 3)
    video += noise
    return video


def _object(
    rng: np.random.Generator, motion: str, tau: np.ndarray, size: int, object_pct: int = 25
) -> _Track:
    """Shape, size and integer top-left track (x, y per frame) of one object doing ``motion``."""
    w, h = (rng.uniform(*OBJECT_SIZE, 2) * (object_pct / 25) * size).round()
    travel = rng.uniform(*TRAVEL) * size
    turn = rng.uniform(*TURN)
    drift = rng.uniform(-DRIFT, DRIFT) * size
    ellipse = rng.random() < 0.5
    start_u, y_u = rng.random(2)
    if motion == "right":
        path = travel * tau
    elif motion == "left":
        path = -travel * tau
    elif motion == "reverse":
        path = travel * np.where(tau < turn, tau, 2 * turn - tau)
    else:  # fast
        path = FAST_FACTOR * travel * tau
    x0 = -path.min() + start_u * max(size - w - np.ptp(path), 0)
    y0 = max(-drift, 0) + y_u * max(size - h - abs(drift), 0)
    x = np.rint(x0 + path)
    y = np.rint(y0 + drift * tau)
    return _Track(x, y, float(w), float(h), bool(ellipse))


def _mask(obj: _Track, size: int) -> np.ndarray:
    """Boolean (T, H, W) coverage of an object along its track."""
    u = np.arange(size)[None, None, :] - obj.x[:, None, None]  # (T, 1, W)
    v = np.arange(size)[None, :, None] - obj.y[:, None, None]  # (T, H, 1)
    if obj.ellipse:
        ru, rv = obj.w / 2, obj.h / 2
        return ((u + 0.5 - ru) / ru) ** 2 + ((v + 0.5 - rv) / rv) ** 2 <= 1
    return (u >= 0) & (u < obj.w) & (v >= 0) & (v < obj.h)


def generate(
    out: str | Path,
    *,
    classes: int = 8,
    train_per_class: int = 40,
    val_per_class: int = 10,
    frames: int = 32,
    size: int = 64,
    fps: int = 16,
    seed: int = 0,
    texture_px: int = 1,
    distractor_pct: int = round(100 * DISTRACTOR_P),
    object_pct: int = 25,
    motions: str = "timing",
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write the data set into ``out`` (see the module docstring); return ``out``.

    A complete data set with the same parameters is left as it is; an interrupted one with the
    same parameters is finished (videos are written atomically, so existing ones are whole).

    Args:
        out: output folder, created if needed.
        classes: use the first ``classes`` of :data:`CLASS_NAMES`.
        train_per_class: training videos per class.
        val_per_class: validation videos per class.
        frames: frames per video.
        size: frame height and width in pixels (even, for H.264).
        fps: frame rate written into the files.
        seed: base seed; video ``k`` of a class and split uses the seed (seed, split, class, k).
        texture_px: width of the texture's lines and checks, in pixels (see :func:`render_video`).
        distractor_pct: percentage of videos with a distractor.
        object_pct: mean object size in percent of the frame (see :func:`render_video`).
        motions: the motion set, a key of :data:`MOTION_SETS` ("timing" or "change").
        force: replace a data set made with other parameters (or a folder without a manifest).
        progress: show a progress bar on stderr.

    Raises:
        ValueError: a parameter is out of range.
        DatasetExistsError: ``out`` holds something else and ``force`` is off.
    """
    out = Path(out)
    params = _validated(
        {
            "design_version": DESIGN_VERSION,
            "classes": classes,
            "train_per_class": train_per_class,
            "val_per_class": val_per_class,
            "frames": frames,
            "size": size,
            "fps": fps,
            "seed": seed,
            "texture_px": texture_px,
            "distractor_pct": distractor_pct,
            "object_pct": object_pct,
            "motions": motions,
        }
    )
    state = _prepare(out, params, force)
    if state == "complete":
        return out
    for tmp in out.glob("videos/*/*/.*.tmp"):  # half-written by an interrupted run
        tmp.unlink()
    _write_manifest(out, params, complete=False)
    names = class_names(motions)[:classes]
    jobs = [  # (split, path relative to out, label, seed key)
        (split, f"videos/{split}/{name}/{split}_{name}_{k}.mp4", label, (seed, i, label, k))
        for i, split in enumerate(SPLITS)
        for label, name in enumerate(names)
        for k in range(train_per_class if split == "train" else val_per_class)
    ]
    bar = tqdm(jobs, desc=f"synthetic {out}", unit="video", file=sys.stderr, disable=not progress)
    for _, rel, label, key in bar:
        if state == "resume" and (out / rel).exists():  # whole: written atomically
            continue
        rng = np.random.default_rng(np.random.SeedSequence(key))
        clip = render_video(
            label,
            rng,
            frames=frames,
            size=size,
            texture_px=texture_px,
            distractor_pct=distractor_pct,
            object_pct=object_pct,
            motions=motions,
        )
        write_video(out / rel, clip, fps=fps)

    # Index files last: a data set without its CSVs is visibly unfinished.
    atomic_write_text(out / "README.md", _readme(params))
    atomic_write_text(out / "classes.json", json.dumps(list(names), indent=1) + "\n")
    for split in SPLITS:
        lines = [f"{rel},{label}\n" for split_, rel, label, _ in jobs if split_ == split]
        atomic_write_text(out / f"{split}.csv", "path,label\n" + "".join(lines))
    _write_manifest(out, params, complete=True)
    return out


def _validated(params: dict[str, int | str]) -> dict[str, int | str]:
    """Check the generator parameters (as stored in the manifest) and return them."""
    class_names(str(params["motions"]))  # raises ValueError naming the sets
    lows = {"classes": 1, "train_per_class": 1, "val_per_class": 0, "frames": 2, "size": 16}
    lows |= {"fps": 1, "seed": 0, "texture_px": 1, "distractor_pct": 0, "object_pct": 5}
    for key, low in lows.items():
        if params[key] < low:
            raise ValueError(f"{key} must be >= {low}, got {params[key]}")
    if params["classes"] > len(CLASS_NAMES):
        raise ValueError(f"classes must be <= {len(CLASS_NAMES)}, got {params['classes']}")
    if params["object_pct"] > 70:
        raise ValueError(f"object_pct must be <= 70, got {params['object_pct']}")
    if params["distractor_pct"] > 100:
        raise ValueError(f"distractor_pct must be <= 100, got {params['distractor_pct']}")
    if params["size"] % 2:
        raise ValueError(f"size must be even (H.264 yuv420p), got {params['size']}")
    return params


def _prepare(out: Path, params: dict[str, int | str], force: bool) -> str:
    """Make ``out`` ready; say if it holds this data set ``complete``, to ``resume``, or ``new``."""
    manifest = _read_manifest(out, force)
    if manifest is not None and manifest.get("params") == params:
        return "complete" if manifest.get("complete") else "resume"
    if not force:
        if manifest is not None:
            old = manifest.get("params") or {}
            diff = [f"{k} {old.get(k)} -> {v}" for k, v in params.items() if old.get(k) != v]
            raise DatasetExistsError(f"{out} was made with other parameters: {', '.join(diff)}")
        if out.exists() and any(out.iterdir()):
            raise DatasetExistsError(f"{out} is not empty and has no manifest.json")
    if manifest is not None and manifest.get("generator") == _MODULE:
        _remove_owned(out)  # what we wrote before; a foreign folder keeps its files
    out.mkdir(parents=True, exist_ok=True)
    return "new"


def _read_manifest(out: Path, force: bool) -> dict | None:
    """The manifest in ``out``, or None; an unreadable one counts as none only under ``force``."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if force:
            return None
        raise DatasetExistsError(f"{out / 'manifest.json'} is unreadable ({err})") from None
    return manifest if isinstance(manifest, dict) else None


def _remove_owned(out: Path) -> None:
    """Delete what a previous run may have written, and nothing else in ``out``."""
    shutil.rmtree(out / "videos", ignore_errors=True)
    for name in ("manifest.json", "README.md", "classes.json", *(f"{s}.csv" for s in SPLITS)):
        (out / name).unlink(missing_ok=True)


def _write_manifest(out: Path, params: dict[str, int | str], *, complete: bool) -> None:
    doc = {"generator": _MODULE, "params": params, "complete": complete}
    atomic_write_text(out / "manifest.json", json.dumps(doc, indent=1) + "\n")


def _readme(params: dict[str, int | str]) -> str:
    rows = [
        f"| {i} | `{n}` | {_ABOUT[n.split('_')[0]]} | {_ABOUT[n.split('_')[1]]} |"
        for i, n in enumerate(class_names(str(params["motions"])))
    ]
    lines = [f"- `{key}`: {value}" for key, value in params.items()]
    timing = params["motions"] == "timing"
    fine = params["texture_px"] == 1
    return _README.format(
        module=_MODULE,
        texture_px=params["texture_px"],
        distractor_pct=params["distractor_pct"],
        about_motion=(
            "The motions need several frames at a known stride (the base temporal grid)."
            if timing
            else "The colour drifts show in any two frames at any stride, not in one frame."
        ),
        about_texture=(
            "The textures vanish at half resolution: only the base spatial grid sees them."
            if fine
            else "The textures stay visible, blurred, on coarser spatial grids."
        ),
        rows="\n".join(rows[: params["classes"]]),
        params="\n".join(lines),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 on a mismatched output folder)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {_MODULE}",
        description="Write the synthetic multigrid video data set (H.264 mp4 + CSVs).",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--classes", type=int, default=8, help="number of classes (1-8)")
    parser.add_argument("--train-per-class", type=int, default=40, help="training videos/class")
    parser.add_argument("--val-per-class", type=int, default=10, help="validation videos/class")
    parser.add_argument("--frames", type=int, default=32, help="frames per video")
    parser.add_argument("--size", type=int, default=64, help="frame size in pixels (even)")
    parser.add_argument("--fps", type=int, default=16, help="frame rate")
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    parser.add_argument(
        "--object-pct", type=int, default=25, help="mean object size, percent of the frame"
    )
    parser.add_argument(
        "--distractor-pct", type=int, default=50, help="percent of videos with a distractor"
    )
    parser.add_argument(
        "--texture-px", type=int, default=1, help="texture line width in pixels (1: fine only)"
    )
    parser.add_argument(
        "--motions",
        default="timing",
        choices=sorted(MOTION_SETS),
        help="temporal events: timing (right/left/reverse/fast: needs the base temporal grid) or "
        "change (colour drifts: visible on every grid)",
    )
    parser.add_argument("--force", action="store_true", help="replace a different data set")
    args = parser.parse_args(argv)
    try:
        generate(**vars(args))
    except (ValueError, DatasetExistsError) as err:
        hint = "; use --force to replace it" if isinstance(err, DatasetExistsError) else ""
        print(f"error: {err}{hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
