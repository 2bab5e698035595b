from __future__ import annotations

import csv
import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from replication.data.synthetic import generate as syn
from replication.data.synthetic import render
from replication.data.synthetic.cli import build_parser, command_line, flag, main
from replication.data.synthetic.generate import generate
from replication.data.synthetic.params import GeneratorParams
from replication.data.synthetic.render import CLASS_NAMES, render_video
from replication.data.video_io import probe, read_video

TINY = ["--train-per-class", "2", "--val-per-class", "1", "--frames", "16", "--size", "32"]


def _files(root: Path) -> dict[str, int]:
    """Every file under root (relative path -> mtime_ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["path", "label"]
        return list(reader)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "ds"
    assert main(["--out", str(out), *TINY]) == 0
    return out


def test_cli_writes_kinetics_like_layout(dataset: Path) -> None:
    for name in ("train.csv", "val.csv", "classes.json", "README.md", "manifest.json"):
        assert (dataset / name).is_file(), name
    classes = json.loads((dataset / "classes.json").read_text())
    assert classes == list(CLASS_NAMES)
    readme = (dataset / "README.md").read_text()
    assert all(name in readme for name in classes)
    assert "`train_per_class`: 2" in readme

    listed = set()
    for split, per_class in (("train", 2), ("val", 1)):
        rows = _rows(dataset / f"{split}.csv")
        assert len(rows) == per_class * len(classes)
        for row in rows:
            label = int(row["label"])
            assert 0 <= label < len(classes)
            parts = Path(row["path"]).parts
            assert parts[:3] == ("videos", split, classes[label])
            assert parts[3].startswith(f"{split}_{classes[label]}_") and parts[3].endswith(".mp4")
            listed.add(row["path"])
        assert sorted(int(r["label"]) for r in rows) == sorted(
            label for label in range(len(classes)) for _ in range(per_class)
        )
    on_disk = {p for p in _files(dataset) if p.endswith(".mp4")}
    assert on_disk == listed


def test_every_video_decodes_to_the_requested_shape(dataset: Path) -> None:
    for split in ("train", "val"):
        for row in _rows(dataset / f"{split}.csv"):
            frames, fps = read_video(dataset / row["path"])
            assert frames.shape == (16, 32, 32, 3)
            assert fps == pytest.approx(16)
    info = probe(dataset / _rows(dataset / "val.csv")[0]["path"])
    assert (info.width, info.height) == (32, 32)


def test_no_temp_files_left(dataset: Path) -> None:
    leftovers = [p for p in _files(dataset) if p.endswith(".tmp") or Path(p).name.startswith(".")]
    assert leftovers == []


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Record, per run folder under tmp_path and video path, a hash of the frames rendered.

    These are the generator's frames before the codec: equal hashes say the same clips were
    drawn, whatever the encoder then does with them.
    """
    record: dict[str, dict[str, str]] = {}
    real_write_video = syn.write_video

    def recording_write_video(path: Path, frames: np.ndarray, fps: int = 16) -> None:
        run, *rel = path.relative_to(tmp_path).parts
        record.setdefault(run, {})["/".join(rel)] = hashlib.sha1(frames.tobytes()).hexdigest()
        real_write_video(path, frames, fps=fps)

    monkeypatch.setattr(syn, "write_video", recording_write_video)
    return record


def test_same_seed_same_data_other_seed_different(
    tmp_path: Path, encoded: dict[str, dict[str, str]]
) -> None:
    args = ["--classes", "2", "--train-per-class", "2", "--val-per-class", "1"]
    args += ["--frames", "8", "--size", "32"]
    for run, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert main(["--out", str(tmp_path / run), *args, "--seed", seed]) == 0
    for name in ("train.csv", "val.csv", "classes.json", "README.md", "manifest.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    assert len(encoded["a"]) == 6
    assert encoded["a"] == encoded["b"]
    assert all(encoded["a"][video] != encoded["c"][video] for video in encoded["a"])

    # Within one process the second encode of the same frames can differ by codec noise
    # (byte-equal files are a property of separate runs, next test).
    video = _rows(tmp_path / "a" / "train.csv")[1]["path"]
    decoded = {run: read_video(tmp_path / run / video)[0].astype(int) for run in "abc"}
    assert np.abs(decoded["a"] - decoded["b"]).mean() < 8  # seen: up to 3.5
    assert np.abs(decoded["a"] - decoded["c"]).mean() > 20  # seen: 30 to 80


def test_the_same_command_writes_the_same_bytes(tmp_path: Path) -> None:
    """Two runs of the generator give byte-identical data sets, so tables trained on regenerated
    data are trained on the same videos. With libx264's default threads they did not: 462 of the
    680 smoke videos differed between two full-size generations; with one thread but x264's
    lookahead thread, 14 of 30 pairs of runs of this command did. The two runs here fill freed
    heap memory differently (``MALLOC_PERTURB_``): with x264's macroblock tree on, which reads
    memory it never wrote, 9 of these 64 videos then differed."""
    args = ["--classes", "8", "--train-per-class", "6", "--val-per-class", "2"]
    for run, perturb in (("a", "1"), ("b", "3")):
        command = [sys.executable, "-m", "replication.data.synthetic", "--out", str(tmp_path / run)]
        env = {**os.environ, "MALLOC_PERTURB_": perturb}
        subprocess.run([*command, *args], check=True, capture_output=True, env=env)
    files = {run: sorted(_files(tmp_path / run)) for run in "ab"}
    assert files["a"] == files["b"] and any(name.endswith(".mp4") for name in files["a"])
    differ = [
        n
        for n in files["a"]
        if (tmp_path / "a" / n).read_bytes() != (tmp_path / "b" / n).read_bytes()
    ]
    assert not differ, differ


def test_rerun_with_same_arguments_is_a_no_op(dataset: Path) -> None:
    before = _files(dataset)
    assert main(["--out", str(dataset), *TINY]) == 0
    assert _files(dataset) == before


def test_rerun_with_other_arguments_fails_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    small = ["--classes", "2", "--val-per-class", "0", "--frames", "4", "--size", "16"]
    assert main(["--out", str(out), *small, "--train-per-class", "2"]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main(["--out", str(out), *small, "--train-per-class", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:")
    assert "other parameters: train_per_class 2 -> 1" in err and "--force" in err
    assert _files(out) == before

    assert main(["--out", str(out), *small, "--train-per-class", "1", "--force"]) == 0
    rows = _rows(out / "train.csv")
    assert len(rows) == 2
    assert {p for p in _files(out) if p.endswith(".mp4")} == {r["path"] for r in rows}
    assert json.loads((out / "manifest.json").read_text())["params"]["train_per_class"] == 1


def test_force_into_a_foreign_folder_deletes_nothing(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "mine.txt").write_text("mine")
    (tmp_path / "notes.txt").write_text("mine")
    small = ["--classes", "1", "--train-per-class", "1", "--val-per-class", "0", "--size", "16"]
    assert main(["--out", str(tmp_path), *small, "--frames", "4"]) == 2
    assert main(["--out", str(tmp_path), *small, "--frames", "4", "--force"]) == 0
    assert (tmp_path / "videos" / "mine.txt").read_text() == "mine"
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert len(_rows(tmp_path / "train.csv")) == 1


def test_bad_arguments_fail_with_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path / "x"), "--size", "33"]) == 2
    assert main(["--out", str(tmp_path / "x"), "--classes", "9"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err)
    assert not (tmp_path / "x").exists()


def test_interrupted_run_is_finished_where_it_stopped(
    tmp_path: Path, encoded: dict[str, dict[str, str]]
) -> None:
    out = tmp_path / "ds"
    kwargs = {"classes": 2, "train_per_class": 2, "val_per_class": 0, "frames": 6, "size": 16}
    generate(out, progress=False, **kwargs)
    first = dict(encoded.pop("ds"))
    rel = _rows(out / "train.csv")[-1]["path"]
    video = out / rel
    # Simulate a crash before the index files: one video missing, a stale temp file, manifest
    # not complete.
    video.unlink()
    (out / "train.csv").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    stale = video.with_name(f".{video.name}.999.tmp")
    stale.write_bytes(b"half a video")
    kept = {p: t for p, t in _files(out).items() if p.endswith(".mp4")}
    generate(out, progress=False, **kwargs)
    assert not stale.exists()
    assert {p: t for p, t in _files(out).items() if p in kept} == kept  # not re-encoded
    assert encoded["ds"] == {rel: first[rel]}  # only the missing clip, and the same one
    assert read_video(video)[0].shape == (6, 16, 16, 3)
    assert len(_rows(out / "train.csv")) == 4
    assert json.loads((out / "manifest.json").read_text())["complete"] is True


# --- class design ------------------------------------------------------------------------------


def _pool2(video: np.ndarray) -> np.ndarray:
    t, h, w, c = video.shape
    return video.reshape(t, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def test_render_video_is_pure_and_deterministic() -> None:
    a = render_video(5, np.random.default_rng(1), frames=12, size=40)
    b = render_video(5, np.random.default_rng(1), frames=12, size=40)
    assert a.shape == (12, 40, 40, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="class_index"):
        render_video(len(CLASS_NAMES), np.random.default_rng(0))


def test_textures_differ_at_full_resolution_but_not_after_2x_pooling() -> None:
    full, pooled = [], []
    for seed in range(8):
        motion = seed % len(render.MOTIONS)
        stripes, checker = (
            render_video(2 * motion + texture, np.random.default_rng(seed)).astype(np.float32)
            for texture in (0, 1)
        )
        full.append(np.abs(stripes - checker).mean())
        pooled.append(np.abs(_pool2(stripes) - _pool2(checker)).mean())
    # The same rng state draws the same video up to the texture; the texture covers ~5% of the
    # frame with +-40..70 grey levels, so about 2 grey levels on average at full resolution.
    assert min(full) > 1.0
    assert max(p / f for p, f in zip(pooled, full, strict=True)) < 0.2


def _target_x(class_index: int, seed: int, size: int) -> np.ndarray:
    """Target centre x per frame: where the two textures of a motion differ is the target."""
    motion = class_index // len(render.TEXTURES)
    a, b = (
        # no distractor (no occlusion); the random draws stay the same
        render_video(
            2 * motion + t, np.random.default_rng(seed), frames=24, size=size, distractor_pct=0
        )
        for t in (0, 1)
    )
    differs = (a != b).any(axis=-1)  # (T, H, W)
    cols = np.arange(size)
    return np.array([cols[frame.any(axis=0)].mean() for frame in differs])


def test_motions_move_as_designed() -> None:
    size = 64
    for seed in range(5):
        right, left, reverse, fast = (_target_x(2 * m, seed, size) / size for m in range(4))
        assert 0.18 < right[-1] - right[0] < 0.34
        assert np.all(np.diff(right) >= 0)
        assert -0.34 < left[-1] - left[0] < -0.18
        turn = int(np.argmax(reverse))
        assert 0.25 * len(reverse) < turn < 0.75 * len(reverse)
        assert reverse[turn] - reverse[0] > 0.05 and reverse[turn] - reverse[-1] > 0.05
        assert fast[-1] - fast[0] > 1.6 * (right[-1] - right[0])
        # The frame-to-frame change is larger for the fast motion.
        assert np.abs(np.diff(fast)).mean() > 1.5 * np.abs(np.diff(right)).mean()


def test_wider_texture_survives_2x_pooling_and_distractors_can_be_off() -> None:
    def texture_gap(texture_px: int) -> float:
        stripes, checker = (
            render_video(t, np.random.default_rng(3), texture_px=texture_px).astype(np.float32)
            for t in (0, 1)
        )
        return float(np.abs(_pool2(stripes) - _pool2(checker)).mean())

    # 1-px textures average away at half resolution; 4-px ones stay visible there.
    assert texture_gap(4) > 5 * texture_gap(1)

    def video(seed: int, pct: int) -> np.ndarray:
        return render_video(0, np.random.default_rng(seed), distractor_pct=pct, texture_px=4)

    # Same draws either way: the videos differ only where a distractor was drawn into them.
    assert sum(not np.array_equal(video(s, 0), video(s, 100)) for s in range(6)) >= 3
    with pytest.raises(ValueError, match="texture_px"):
        render_video(0, np.random.default_rng(0), texture_px=0)


def _target_colour(video: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Mean RGB of the target per frame: where two renders differing in texture differ."""
    differs = (video != other).any(axis=-1)  # (T, H, W)
    return np.stack([video[t][differs[t]].mean(axis=0) for t in range(len(video))])


def test_change_events_drift_the_target_colour_as_designed() -> None:
    names = render.class_names("change")
    assert names[:2] == ("brighten_stripes", "brighten_checker") and len(names) == 8
    drifts = {}
    for motion, event in enumerate(render.MOTION_SETS["change"]):
        per_seed = []
        for seed in range(4):
            a, b = (
                render_video(2 * motion + t, np.random.default_rng(seed), motions="change",
                             texture_px=4, distractor_pct=0, frames=16).astype(np.float32)
                for t in (0, 1)
            )  # fmt: skip
            colour = _target_colour(a, b)  # (T, 3)
            per_seed.append(colour[-4:].mean(axis=0) - colour[:4].mean(axis=0))
        drifts[event] = np.mean(per_seed, axis=0)  # (3,) change in R, G, B over the clip
    r, g, b = drifts["brighten"]
    big = 0.5 * render.CHANGE_RANGE  # first vs last quarter of the clip: about 0.75 * the range
    assert min(r, g, b) > big
    assert max(drifts["darken"]) < -big
    assert drifts["warm"][0] > big and drifts["warm"][2] < -big and abs(drifts["warm"][1]) < 5
    assert drifts["cool"][0] < -big and drifts["cool"][2] > big and abs(drifts["cool"][1]) < 5


def test_change_set_is_written_named_and_recorded(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert main(["--out", str(out), *TINY, "--classes", "4", "--motions", "change"]) == 0
    classes = json.loads((out / "classes.json").read_text())
    assert classes == ["brighten_stripes", "brighten_checker", "darken_stripes", "darken_checker"]
    assert json.loads((out / "manifest.json").read_text())["params"]["motions"] == "change"
    assert "colour drifts" in (out / "README.md").read_text()
    # Same folder, other events: refused without --force, named in the message.
    with pytest.raises(syn.DatasetExistsError, match="motions change -> timing"):
        generate(out, classes=4, train_per_class=2, val_per_class=1, frames=16, size=32,
                 progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="motions must be one of"):
        render_video(0, np.random.default_rng(0), motions="spin")


# --- the parameter record ----------------------------------------------------------------------


def test_cli_flags_are_the_record_fields() -> None:
    parser = build_parser()
    flags = {a.dest: a for a in parser._actions if a.dest not in ("help", "out", "force")}
    assert list(flags) == list(GeneratorParams.model_fields)
    for name, action in flags.items():
        info = GeneratorParams.model_fields[name]
        assert action.option_strings == [flag(name)] == ["--" + name.replace("_", "-")]
        assert action.default == info.default and info.description in action.help
    assert flags["motions"].choices == tuple(render.MOTION_SETS)
    # The CLI's defaults are the record's, which generate() takes when given no fields.
    args = vars(parser.parse_args(["--out", "x"]))
    assert GeneratorParams.checked(**{k: args[k] for k in flags}) == GeneratorParams()


def test_command_line_runs_exactly_the_record() -> None:
    params = GeneratorParams(train_per_class=60, val_per_class=25, texture_px=2, motions="change")
    words = shlex.split(command_line("data/synthetic", params, force=True))
    assert words[:5] == ["python", "-m", "replication.data.synthetic", "--out", "data/synthetic"]
    assert words[-1] == "--force"
    args = vars(build_parser().parse_args(words[3:]))
    assert args.pop("out") == Path("data/synthetic") and args.pop("force") is True
    assert GeneratorParams(**args) == params


def test_manifest_params_keep_their_keys_and_order() -> None:
    """Data sets generated before the record existed are still recognised as complete."""
    manifest = GeneratorParams(train_per_class=2).manifest()
    assert list(manifest) == [
        "design_version", "classes", "train_per_class", "val_per_class", "frames", "size",
        "fps", "seed", "texture_px", "distractor_pct", "object_pct", "motions",
    ]  # fmt: skip
    assert manifest["design_version"] == render.DESIGN_VERSION and manifest["train_per_class"] == 2


def test_bad_fields_fail_with_one_line() -> None:
    with pytest.raises(ValueError, match=r"^size: .*multiple of 2, got 33$"):
        GeneratorParams.checked(size=33)
    with pytest.raises(ValueError, match=r"^sizes: Extra inputs"):
        GeneratorParams.checked(sizes=32)
