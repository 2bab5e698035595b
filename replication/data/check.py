"""List the undecodable videos of a data set before training: ``python -m replication.data.check``.

Missing, empty, truncated and corrupt files are the usual reason a long video run dies or quietly
trains on fewer clips ("Failed to decode video idx ... after N trials"). This checker finds them
up front: every file is probed (container header only, fast) and, with ``--decode``, decoded to
the last frame, which also catches damaged media data and files cut short.

Usage::

    python -m replication.data.check DATASET [--format FMT] [--video-root DIR] [--decode]
                                     [--out report.csv] [--workers 2]

Bad videos are printed as ``path<TAB>reason`` on stdout, the summary ``N videos, K bad`` on
stderr. Exit code 0: all good; 1: some bad; 2: the annotation file cannot be used.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from replication.config import ConfigError
from replication.data.annotations import FORMATS, VideoTable, guess_format, load_table
from replication.data.video_io import VideoError, probe, read_video
from replication.io.atomic import atomic_path

MIN_DECODED_FRACTION = 0.95  # fewer frames than this share of the declared count = cut short
CHECK_SHORT_SIDE = 32  # decode to tiny frames: only decodability matters, and memory stays flat


@dataclass(frozen=True)
class BadVideo:
    """A video file the loader would fail on, and why."""

    path: Path
    reason: str  # one line, no tabs


def check_video(path: str | Path, decode: bool = False) -> str | None:
    """Why ``path`` cannot be used, or None when it is fine.

    Without ``decode`` only the container header is read, which catches missing, empty,
    random-byte and audio-only files, and mp4s cut before their index (``moov`` at the end).
    ``decode`` reads every frame, which also catches damaged media data and files cut short
    whose index survived (``faststart`` mp4): those decode fewer frames than they declare.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return "empty file"
        info = probe(path)
        if decode:
            frames, _ = read_video(path, short_side=CHECK_SHORT_SIDE)
            if info.num_frames and len(frames) < MIN_DECODED_FRACTION * info.num_frames:
                return f"truncated: decoded {len(frames)} of {info.num_frames} declared frames"
    except FileNotFoundError:
        return "file not found"
    except VideoError as err:
        return _one_line(err.reason.replace(f": '{path}'", ""))
    except Exception as err:  # a checker that dies on file 100,000 of 240,000 helps nobody
        return _one_line(f"unexpected {type(err).__name__}: {err}")
    return None


def find_bad_videos(
    paths: Iterable[str | Path], decode: bool = False, workers: int = 2, progress: bool = False
) -> list[BadVideo]:
    """Check each distinct path on a thread pool; bad videos come back in input order.

    Threads are enough because PyAV releases the GIL while FFmpeg demuxes and decodes.

    Args:
        paths: video files; repeated paths (several segments of one file) are checked once.
        decode: decode every frame, not only the header (see :func:`check_video`).
        workers: threads; each decode also uses FFmpeg's own threads, so keep this small.
        progress: show a tqdm bar on stderr.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = pool.map(partial(check_video, decode=decode), unique)
        bar = tqdm(reasons, total=len(unique), unit="video", disable=not progress, file=sys.stderr)
        results = list(bar)
    return [BadVideo(p, r) for p, r in zip(unique, results, strict=True) if r is not None]


def write_report(path: str | Path, bad: Sequence[BadVideo]) -> None:
    """Write ``path,reason`` rows atomically, so a killed run never leaves half a report."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "reason"])
        writer.writerows([str(b.path), b.reason] for b in bad)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m replication.data.check``."""
    parser = argparse.ArgumentParser(
        prog="python -m replication.data.check",
        description="List the videos of a data set that cannot be decoded.",
    )
    parser.add_argument("dataset", help="annotation file (CSV, JSON split list) or class folder")
    parser.add_argument("--format", choices=FORMATS, help="annotation format (default: guessed)")
    parser.add_argument("--video-root", help="folder of the videos (default: beside DATASET)")
    parser.add_argument("--labels", help="ssv2 labels.json (default: beside DATASET)")
    parser.add_argument("--split", help="kinetics: keep rows of this split only")
    parser.add_argument("--decode", action="store_true", help="decode every frame (slow)")
    parser.add_argument("--out", help="also write the bad videos as a path,reason CSV")
    parser.add_argument("--workers", type=_positive, default=2, help="threads (default: 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; returns the exit code (0 all good, 1 some bad, 2 unusable annotation)."""
    args = build_parser().parse_args(argv)
    try:
        table = _load(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    paths = [record.path for record in table.records]
    bad = find_bad_videos(paths, args.decode, args.workers, progress=not args.quiet)
    for video in bad:
        print(f"{video.path}\t{video.reason}")
    if args.out:
        write_report(args.out, bad)
    print(f"{len(set(paths))} videos, {len(bad)} bad", file=sys.stderr)
    return 1 if bad else 0


def _load(args: argparse.Namespace) -> VideoTable:
    fmt = args.format or guess_format(args.dataset)
    options = {}
    for flag, key, owner in (("split", "split", "kinetics"), ("labels", "labels_json", "ssv2")):
        if getattr(args, flag) is not None:
            if fmt != owner:
                raise ConfigError(f"--{flag}", f"only applies to the {owner} format, not {fmt}")
            options[key] = getattr(args, flag)
    return load_table(args.dataset, fmt, args.video_root, **options)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
