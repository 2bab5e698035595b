"""A multi-resolution store: smaller copies of every video, read by the grids that allow it.

H.264 decoding cannot skip pixels, so the only way a coarse grid's clip costs less to decode
than the base grid's is to decode a smaller file. ``python -m replication.data.copies CSV
--short-side 128`` writes, once, a copy of every listed video scaled to that short side (same
frame rate and timestamps, scaled in YUV, H.264 as :class:`~replication.data.video_io.CopyEncoding`
says: a keyframe every second, crf 18 without macroblock tree, so that the bytes are
reproducible) under ``<CSV folder>/short128/`` with a ``manifest.json`` that records the
encoding; :meth:`VideoCopies.find` picks the copies up beside the annotations. A copy is
written again when its original is newer or the manifest names another encoding.

Which grid reads which copy: a grid draws the resized short side from ``[jitter_min,
jitter_max]``; at ``jitter_min`` (its widest view) its crop samples the resized frame one to
one. A copy whose short side is at least ``jitter_min`` holds every pixel that widest view uses,
so the grid reads the smallest such copy (K400 SlowFast: the 112-px grids, ``jitter_min`` 128,
read the 128 copy; 158 and 224 keep the original). Views zoomed in further are upsampled from
the copy, as views past the source's own short side are upsampled from the original.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from replication.data.annotations import load_table
from replication.data.video_io import COPY_ENCODING, VideoError, write_scaled_copy
from replication.io.atomic import atomic_write_text

MANIFEST = "manifest.json"


class VideoCopies:
    """Copies of videos by short side: ``{short_side: {original path: copy path}}``.

    Args:
        copies: the stored copies (from :meth:`find`; may be empty).
        decoder_scale: also scale frames in the decoder to the grid's ``jitter_min`` when no
            copy serves it (converts fewer pixels; decodes as many).
    """

    def __init__(self, copies: dict[int, dict[str, Path]], decoder_scale: bool = False) -> None:
        self.copies = dict(sorted(copies.items()))
        self.decoder_scale = decoder_scale

    def choose(self, path: Path, grid: Any, short_side: int | None) -> tuple[Path, int | None]:
        """The file and short side to decode ``path`` at for ``grid`` (see the module doc)."""
        need = int(grid.jitter_min)
        for side, files in self.copies.items():
            if side >= need and str(path) in files:
                return files[str(path)], short_side
        if self.decoder_scale:
            return path, need if short_side is None else min(short_side, need)
        return path, short_side

    @classmethod
    def find(cls, annotations: Path, decoder_scale: bool = False) -> VideoCopies:
        """The copies written beside ``annotations`` (a CSV file or a folder)."""
        root = copies_root(annotations)
        copies: dict[int, dict[str, Path]] = {}
        for manifest in sorted(root.glob(f"short*/{MANIFEST}")):
            doc = json.loads(manifest.read_text())
            files = {src: manifest.parent / rel for src, rel in doc["videos"].items()}
            copies[int(doc["short_side"])] = files
        return cls(copies, decoder_scale)


def copies_root(annotations: Path) -> Path:
    """The folder that holds the copies of ``annotations`` (a CSV file's folder, or itself)."""
    return annotations if annotations.is_dir() else annotations.parent


def load_copies(
    annotations: Path, short_sides: Sequence[int], paths: Sequence[Path]
) -> VideoCopies:
    """The copies at ``short_sides`` of every video in ``paths`` (``data.copies``), checked.

    Manifest entries are matched by path as given or resolved, so a copy written from the
    same files under another spelling is still found. A video the manifest lists as bad has
    no copy and is read (and reported) from the original.

    Raises:
        FileNotFoundError: one line naming the copy folder, or the video without a copy, and
            the command that writes the copies.
    """
    root = copies_root(annotations)
    copies: dict[int, dict[str, Path]] = {}
    for side in short_sides:
        folder = root / f"short{side}"
        write = f"python -m replication.data.copies {annotations} --short-side {side}"
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(f"{folder}: no copies at short side {side} (data.copies); "
                                    f"write them with {write}")  # fmt: skip
        doc = json.loads((folder / MANIFEST).read_text())
        listed = {**doc["videos"], **{_resolved(k): v for k, v in doc["videos"].items()}}
        bad = set(doc["bad"]) | {_resolved(k) for k in doc["bad"]}
        files = {}
        for path in paths:
            rel = listed.get(str(path), listed.get(_resolved(path)))
            if rel is not None:
                files[str(path)] = folder / rel
            elif str(path) not in bad and _resolved(path) not in bad:
                raise FileNotFoundError(f"{path}: no copy in {folder} (data.copies); write "
                                        f"the missing copies with {write}")  # fmt: skip
        copies[side] = files
    return VideoCopies(copies)


def _resolved(path: Path | str) -> str:
    return str(Path(path).resolve())


def write_copies(paths: Sequence[Path], root: Path, short_side: int) -> dict[str, Any]:
    """Write each video scaled to ``short_side`` under ``root/short<N>/``; return the manifest.

    Paths keep their place relative to ``root``; an existing copy is kept unless its original
    is newer (a regenerated data set) or the manifest beside it names another encoding (copies
    of an older version of this module). Bad videos are listed with their reason and get no
    copy (the loader still reports them from the original).
    """
    out = root / f"short{short_side}"
    encoding = asdict(COPY_ENCODING)
    current = _written_encoding(out / MANIFEST) == encoding
    videos, bad, size_in, size_out = {}, {}, 0, 0
    for path in paths:
        resolved = Path(path).resolve()
        if resolved.is_relative_to(root.resolve()):
            rel = resolved.relative_to(root.resolve())
        else:  # videos outside the annotations' folder (data.video_root): the whole path
            rel = resolved.relative_to(resolved.anchor)
        target = out / rel
        try:
            stale = not target.is_file() or target.stat().st_mtime < Path(path).stat().st_mtime
            if stale or not current:
                write_scaled_copy(path, target, short_side, COPY_ENCODING)
        except VideoError as err:
            bad[str(path)] = err.reason
            continue
        videos[str(path)] = str(rel)
        size_in += Path(path).stat().st_size
        size_out += target.stat().st_size
    doc = {"short_side": short_side, "encoding": encoding, "videos": videos, "bad": bad,
           "bytes_original": size_in, "bytes_copy": size_out}  # fmt: skip
    atomic_write_text(out / MANIFEST, json.dumps(doc, indent=1) + "\n")
    return doc


def _written_encoding(manifest: Path) -> dict[str, Any] | None:
    """The encoding an existing manifest records (None: no manifest, or one from before)."""
    try:
        return json.loads(manifest.read_text()).get("encoding")
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m replication.data.copies CSV --short-side 128``; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m replication.data.copies", description=__doc__)
    parser.add_argument("annotations", type=Path, help="annotation file (its folder holds copies)")
    parser.add_argument("--short-side", type=int, default=128)
    parser.add_argument("--format", default=None, help="annotation format (data.format)")
    parser.add_argument("--video-root", default=None, help="video folder (data.video_root)")
    args = parser.parse_args(argv)
    try:
        fmt = None if args.format in (None, "auto") else args.format
        table = load_table(args.annotations, fmt, args.video_root or None)
    except (ValueError, OSError) as err:
        print(f"error: {args.annotations}: {err}", file=sys.stderr)
        return 2
    root = copies_root(args.annotations)
    doc = write_copies([r.path for r in table.records], root, args.short_side)
    ratio = doc["bytes_copy"] / max(1, doc["bytes_original"])
    print(f"{len(doc['videos'])} copies at short side {args.short_side}: "
          f"{doc['bytes_copy'] / 1e6:.1f} MB beside {doc['bytes_original'] / 1e6:.1f} MB "
          f"({100 * ratio:.0f} % more disk); {len(doc['bad'])} bad videos")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
