"""Kinetics-sized videos for measuring the loader on realistic decode work.

``python -m replication.data.synthetic.kinetics --out data/kinetics_like [--videos 12]`` writes
videos the size of the standard Kinetics copies: 340x256 (short side 256; ``--width 320
--height 240`` gives the other common copy), 10 s at 30 fps, H.264 with a keyframe every 2 s
(as YouTube's H.264 transcodes; no scene-cut keyframes), B-frames and x264's ``medium`` preset.
The content is what makes decoding cost what it costs on real clips: a textured scene under a
slow camera pan, a few textured objects moving across it and light sensor noise, at about
0.1-0.2 bits per pixel (the README of the folder states the measured bitrate). Labels are
``k % classes``: these videos exist to be decoded, not learned.

The same arguments give the same files; a folder made with other arguments is rewritten.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from replication.data.video_io import probe, write_video
from replication.io.atomic import atomic_write_text

VERSION = 2  # bump when the rendering or encoding changes (2: x264 without macroblock tree)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float texture: noise octaves from 1/32 to 1/2 of the size, plus edges."""
    out = np.zeros((height, width, 3), np.float32)
    for cell, weight in ((32, 60.0), (16, 40.0), (8, 25.0), (4, 15.0), (2, 8.0)):
        h, w = -(-height // cell) + 1, -(-width // cell) + 1
        coarse = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
        up = np.repeat(np.repeat(coarse, cell, 0), cell, 1)[:height, :width]
        out += weight * _blur(up, cell)
    return out


def _blur(x: np.ndarray, cell: int) -> np.ndarray:
    """Box blur over ``cell`` pixels along both axes (makes the upsampled noise smooth)."""
    for axis in (0, 1):
        c = np.cumsum(np.moveaxis(x, axis, 0), axis=0)
        c = np.concatenate([np.zeros_like(c[:1]), c])
        n = c.shape[0] - 1
        lo = np.clip(np.arange(n) - cell // 2, 0, n)
        hi = np.clip(np.arange(n) + (cell + 1) // 2, 0, n)
        x = np.moveaxis((c[hi] - c[lo]) / (hi - lo)[:, None, None], 0, axis)
    return x


def render_kinetics_like(
    rng: np.random.Generator, width: int, height: int, num_frames: int
) -> np.ndarray:
    """(T, H, W, 3) uint8: a panning textured scene with moving textured objects and noise."""
    pan = rng.uniform(0.5, 2.0, 2) * rng.choice([-1, 1], 2)  # camera, pixels per frame
    margin = np.ceil(np.abs(pan) * num_frames).astype(int) + 1
    scene = _texture(rng, height + margin[0], width + margin[1]) + rng.uniform(60, 190, 3)
    objects = []
    for _ in range(3):
        size = rng.integers(height // 6, height // 3, 2)
        objects.append(
            (size, rng.uniform(0, [height, width]), rng.uniform(-4, 4, 2),
             _texture(rng, *size) * 1.5 + rng.uniform(40, 220, 3))
        )  # fmt: skip
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        shift = np.round(t * np.abs(pan)).astype(int)
        y0, x0 = np.where(pan > 0, shift, margin - 1 - shift)
        frame = scene[y0 : y0 + height, x0 : x0 + width].copy()
        for size, start, speed, tex in objects:
            top, left = (start + t * speed).astype(int) % [height, width]
            h, w = min(size[0], height - top), min(size[1], width - left)
            frame[top : top + h, left : left + w] = tex[:h, :w]
        frame += rng.normal(0, 2.0, frame.shape[:2])[..., None]
        frames[t] = np.clip(frame, 0, 255)
    return frames


def generate_kinetics_like(
    out: str | Path,
    videos: int = 12,
    *,
    width: int = 340,
    height: int = 256,
    seconds: float = 10.0,
    fps: int = 30,
    keyint_s: float = 2.0,
    classes: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``videos`` Kinetics-sized mp4 files and ``train.csv`` into ``out``; return ``out``."""
    if width % 2 or height % 2 or videos < 1 or seconds <= 0 or fps < 1:
        raise ValueError(f"need even sizes and positive counts, got {width}x{height}, "
                         f"{videos} videos, {seconds} s at {fps} fps")  # fmt: skip
    out = Path(out)
    params = {"version": VERSION, "videos": videos, "width": width, "height": height,
              "seconds": seconds, "fps": fps, "keyint_s": keyint_s, "classes": classes,
              "seed": seed}  # fmt: skip
    manifest = out / "manifest.json"
    same = manifest.is_file() and json.loads(manifest.read_text()) == params
    num_frames, keyint = round(seconds * fps), max(1, round(keyint_s * fps))
    rows = []
    for k in range(videos):
        rel = f"videos/clip_{k:03d}.mp4"
        if not (same and (out / rel).is_file()):
            rng = np.random.default_rng(np.random.SeedSequence((seed, k)))
            frames = render_kinetics_like(rng, width, height, num_frames)
            write_video(out / rel, frames, fps=fps, crf=23, keyint=keyint, preset="medium")
        rows.append(f"{rel},{k % classes}\n")
    atomic_write_text(out / "train.csv", "path,label\n" + "".join(rows))
    size = sum((out / r.split(",")[0]).stat().st_size for r in rows)
    kbps = 8 * size / 1000 / (videos * seconds)
    bpp = kbps * 1000 / (width * height * fps)
    atomic_write_text(out / "README.md", f"# Kinetics-sized videos\n\nWritten by `python -m "
                      f"replication.data.synthetic.kinetics`: {videos} videos, {width}x{height}, "
                      f"{seconds:g} s at {fps} fps, keyframe every {keyint} frames; "
                      f"{size / 1e6:.1f} MB, {kbps:.0f} kbit/s ({bpp:.3f} bits per pixel)."
                      "\n")  # fmt: skip
    atomic_write_text(manifest, json.dumps(params) + "\n")
    probe(out / rows[0].split(",")[0])  # fails loudly if the encoder wrote nothing usable
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m replication.data.synthetic.kinetics", description=__doc__
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--keyint-s", type=float, default=2.0, help="seconds between keyframes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = generate_kinetics_like(
            args.out, args.videos, width=args.width, height=args.height, seconds=args.seconds,
            fps=args.fps, keyint_s=args.keyint_s, seed=args.seed,
        )  # fmt: skip
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((out / "README.md").read_text().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
