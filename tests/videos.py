"""Small real videos and every kind of bad video file, for the loader and checker tests.

Which check catches which kind (verified with av 18.1.0 in tests/test_data_check.py):

- caught by ``probe`` (header only): ``corrupt`` (random bytes), ``truncated`` (mp4 cut to 40 %;
  ``write_video`` puts the ``moov`` index at the end, so it is lost), ``empty``, ``missing``,
  ``audio_only`` (no video stream).
- caught only by a full decode: ``corrupt_mid`` and ``truncated_faststart``. Random bytes in the
  middle of the media data are not reliable: in about 70 % of trials the H.264 decoder conceals
  them and returns garbage frames without an error. Filling the middle half of the ``mdat``
  payload with 0xFF is reliable, because it overwrites the 4-byte NAL length prefixes with
  lengths larger than the packet, which FFmpeg rejects (``Invalid data found when processing
  input``). A ``faststart`` mp4 (index first) cut to 40 % still opens; decoding either fails or
  yields fewer frames than the index declares, which the checker's frame count flags.
"""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from replication.data.video_io import write_video

BAD_KINDS = (
    "corrupt",
    "corrupt_mid",
    "truncated",
    "truncated_faststart",
    "empty",
    "missing",
    "audio_only",
)
PROBE_CATCHES = frozenset({"corrupt", "truncated", "empty", "missing", "audio_only"})
DECODE_ONLY = frozenset(BAD_KINDS) - PROBE_CATCHES


def smooth_frames(seed: int, num_frames: int = 16, size: int = 32) -> np.ndarray:
    """(T, S, S, 3) uint8 drifting sinusoid gratings: random per seed, smooth in space and time."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.5, 3.0, size=(2, 3))  # cycles per frame side, per colour channel
    phase = rng.uniform(0, 2 * np.pi, size=3)
    speed = rng.uniform(0.05, 0.3, size=3)  # cycles per frame
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = np.arange(num_frames)[:, None, None, None]
    arg = 2 * np.pi * (xx[..., None] * freq[0] + yy[..., None] * freq[1] + t * speed) + phase
    return (127.5 + 120 * np.sin(arg)).astype(np.uint8)


def write_good(path: Path, seed: int = 0, num_frames: int = 16) -> Path:
    """A decodable 32x32 H.264 mp4."""
    write_video(path, smooth_frames(seed, num_frames))
    return path


def write_corrupt(path: Path, seed: int = 0) -> Path:
    """Random bytes with a video name."""
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    return path


def write_corrupt_mid(path: Path, seed: int = 0) -> Path:
    """A good mp4 whose middle half of media data is 0xFF: opens, fails to decode."""
    write_good(path, seed)
    data = bytearray(path.read_bytes())
    at = data.find(b"mdat")
    start, end = at + 4, at - 4 + int.from_bytes(data[at - 4 : at], "big")
    lo, hi = start + (end - start) // 4, start + 3 * (end - start) // 4
    data[lo:hi] = b"\xff" * (hi - lo)
    path.write_bytes(bytes(data))
    return path


def write_truncated(path: Path, seed: int = 0, keep: float = 0.4) -> Path:
    """A good mp4 cut to ``keep`` of its size; its index (at the end) is gone."""
    write_good(path, seed)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_truncated_faststart(path: Path, seed: int = 0, keep: float = 0.4) -> Path:
    """An mp4 with its index first, cut to ``keep``: opens fine, decodes short or fails."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(16))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for frame in smooth_frames(seed, num_frames=32):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "faststart did not move the index first"
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_empty(path: Path) -> Path:
    """A zero-length file."""
    path.write_bytes(b"")
    return path


def write_audio_only(path: Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """An mp4 with one AAC stream and no video stream."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate)
        samples = (0.1 * samples).astype(np.float32)
        for pts in range(0, len(samples), 1024):
            chunk = samples[None, pts : pts + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, pts
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_bad(path: Path, kind: str, seed: int = 0) -> Path:
    """Write a bad file of ``kind`` (one of :data:`BAD_KINDS`); ``missing`` writes nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writers = {
        "corrupt": lambda: write_corrupt(path, seed),
        "corrupt_mid": lambda: write_corrupt_mid(path, seed),
        "truncated": lambda: write_truncated(path, seed),
        "truncated_faststart": lambda: write_truncated_faststart(path, seed),
        "empty": lambda: write_empty(path),
        "missing": lambda: path,
        "audio_only": lambda: write_audio_only(path),
    }
    return writers[kind]()


def make_dataset(
    root: Path,
    n_good: int = 19,
    bad_kinds: tuple[str, ...] = ("corrupt", "truncated", "empty", "missing", "audio_only"),
    num_classes: int = 3,
) -> tuple[Path, list[Path], dict[str, Path]]:
    """Write ``root/videos/...`` and a Kinetics-style ``root/train.csv`` (``path,label``).

    Bad files sit between the good ones in the CSV, one per kind, named ``bad_<kind>.mp4``.

    Returns:
        The CSV path, the good video paths, and the bad path of each kind.
    """
    root.mkdir(parents=True, exist_ok=True)
    good = [write_good(root / "videos" / f"good_{i:03d}.mp4", seed=i) for i in range(n_good)]
    bad = {
        k: write_bad(root / "videos" / f"bad_{k}.mp4", k, seed=i) for i, k in enumerate(bad_kinds)
    }
    order = list(good)
    for i, path in enumerate(bad.values()):
        order.insert(min(len(order), 3 * i + 1), path)
    csv_path = root / "train.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for i, path in enumerate(order):
            writer.writerow([path.relative_to(root).as_posix(), i % num_classes])
    return csv_path, good, bad
