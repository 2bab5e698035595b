"""Rendering of one synthetic clip: the class design (see the package docstring).

Pure functions of a label and a random generator; :mod:`replication.data.synthetic.generate`
writes the clips to disk.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

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
# Bump whenever rendering or encoding changes, so old data sets no longer match (2: x264
# without macroblock tree, for reproducible bytes; video_io.write_video).
DESIGN_VERSION = 2

# Rendering constants; lengths are fractions of the frame size.
OBJECT_SIZE = (0.2, 0.3)  # width and height range of target and distractor (object_pct=25)
TRAVEL = (0.24, 0.3)  # distance covered over the clip by `right`/`left` (speed jitter)
FAST_FACTOR = 2.0  # `fast` covers this many times the `right` distance
TURN = (0.35, 0.65)  # normalised time at which `reverse` turns back
DRIFT = 0.08  # largest vertical drift over the clip
CONTRAST = (40.0, 70.0)  # texture half-contrast d, grey levels
NOISE = (3.0, 8.0)  # per-pixel background noise sigma, grey levels
DISTRACTOR_P = 0.5  # probability that a video has a distractor


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
