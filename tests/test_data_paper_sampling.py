"""SSv2 and Charades as PySlowFast reads them: segment frames, span labels, max-over-views mAP.

Every expected value below is worked out by hand from the reference's rules (ssv2.py
get_seq_frames, charades.py + utils.aggregate_labels, meters.py TestMeter), not by calling the
code under test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from shared import CHARADES_MG, SSV2_MG

from replication.config import ConfigError, RunConfig, load_config
from replication.config.pyslowfast import translate
from replication.data.build import build_dataset
from replication.data.clip_labels import clip_classes
from replication.data.dataset import ClipDataset
from replication.data.loader import train_grids
from replication.data.sampler import ClipRequest
from replication.data.transforms import MEAN, STD, Grid, eval_views, segment_indices, train_view
from replication.data.video_io import write_video
from replication.data.video_table import ActionSpan
from replication.engine.evaluate import collect_scores, evaluate, merge_scores
from replication.schedule import build_schedule

# ---- SSv2: one frame per segment -----------------------------------------------------------

# 30 frames, T = 8: size = 29 / 8 = 3.625; the bounds round(3.625 * i), i = 0..8, are
# 0, 3.625 -> 4, 7.25 -> 7, 10.875 -> 11, 14.5 -> 14 (half to even), 18.125 -> 18,
# 21.75 -> 22, 25.375 -> 25, 29.
SEGMENTS_30_8 = [(0, 4), (4, 7), (7, 11), (11, 14), (14, 18), (18, 22), (22, 25), (25, 29)]
MIDDLES_30_8 = [2, 5, 9, 12, 16, 20, 23, 27]  # (start + end) // 2 of each
# 5 frames, T = 8 (a video shorter than the clip): size = 0.5, bounds 0, 0.5 -> 0, 1,
# 1.5 -> 2, 2, 2.5 -> 2, 3, 3.5 -> 4, 4; frames repeat inside the clip, not at its end.
MIDDLES_5_8 = [0, 0, 1, 2, 2, 2, 3, 4]


def test_segment_middles_are_the_reference_test_frames():
    assert segment_indices(30, 8) == MIDDLES_30_8
    assert segment_indices(5, 8) == MIDDLES_5_8
    assert segment_indices(1, 4) == [0, 0, 0, 0]


def test_segment_draws_cover_each_segment_ends_included():
    seen = [set() for _ in SEGMENTS_30_8]
    for seed in range(300):
        frames = segment_indices(30, 8, np.random.default_rng(seed))
        for i, frame in enumerate(frames):
            seen[i].add(frame)
    assert [(min(s), max(s)) for s in seen] == SEGMENTS_30_8
    assert [len(s) for s in seen] == [end - start + 1 for start, end in SEGMENTS_30_8]


def ssv2_grids() -> list[Grid]:
    """Every training grid of the shipped SSv2 long + short schedule (T = 16, 32, 64)."""
    cfg = load_config(SSV2_MG)
    grids = {g for e in build_schedule(cfg).epochs for g in train_grids(e, 2, 320)}
    return sorted(grids, key=lambda g: (g.num_frames, g.crop_size))


def test_every_ssv2_grid_samples_segments_of_its_own_length():
    grids = ssv2_grids()
    assert {g.num_frames for g in grids} == {16, 32, 64}
    for grid in grids:
        t = grid.num_frames
        size = 299 / t  # a 300-frame video
        bounds = [round(size * i) for i in range(t + 1)]
        view = train_view(240, 320, 300, grid, np.random.default_rng(t), sampling="segments")
        assert len(view.frames) == t
        assert all(bounds[i] <= f <= bounds[i + 1] for i, f in enumerate(view.frames))


def test_segment_test_views_repeat_the_middles_and_stride_views_are_unchanged():
    views = eval_views(72, 96, 30, 8, 4, 32, 2, 3, sampling="segments")
    assert [v.frames for v in views] == [tuple(MIDDLES_30_8)] * 6
    assert [(v.left, v.top) for v in views[:3]] == [(0.0, 0.0), (12.0, 0.0), (24.0, 0.0)]
    stride = eval_views(72, 96, 100, 8, 4, 32, 2, 1)
    assert [v.frames[0] for v in stride] == [0, 71]  # 100 - 29 frames of room, both ends


def test_stride_sampling_is_the_default_and_draws_as_before():
    grid = Grid(8, 32, 2, 4, 32, 40)
    for seed in range(5):
        a = train_view(72, 96, 64, grid, np.random.default_rng(seed))
        b = train_view(72, 96, 64, grid, np.random.default_rng(seed), sampling="stride")
        assert a == b


# ---- the data set, on frames that carry their own index --------------------------------------


LEVEL = 6  # grey levels between frames: frame k is grey 6k, so 40 frames fit in a byte


class IndexedFrames:
    """A frame source whose frame k is uniformly grey LEVEL * k (so a clip tells its frames)."""

    def __init__(self, lengths: list[int]) -> None:
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def frames(self, index: int, grid: Grid | None = None) -> np.ndarray:
        levels = (LEVEL * np.arange(self.lengths[index])).astype(np.uint8)
        return np.broadcast_to(levels[:, None, None, None], (len(levels), 24, 32, 3)).copy()


def frames_of(clip: torch.Tensor) -> list[int]:
    """Frame indices of a (3, T, S, S) clip of indexed frames (also after H.264 encoding)."""
    grey = (clip[0].mean(dim=(1, 2)) * STD[0] + MEAN[0]) * 255.0
    return [round(v / LEVEL) for v in grey.tolist()]


@pytest.mark.parametrize("t", [4, 8, 16])
def test_dataset_segments_at_every_grid_length(t):
    dataset = ClipDataset(IndexedFrames([30]), [(0,)], 2, grids=[Grid(t, 16, 2, 8, 16, 20)],
                          eval_grid=Grid(t, 16, 2, 2, 16, 16), temporal_sampling="segments")  # fmt: skip
    size = 29 / t
    bounds = [round(size * i) for i in range(t + 1)]
    for seed in range(10):
        frames = frames_of(dataset[ClipRequest(0, 0, seed)]["video"])
        assert all(bounds[i] <= f <= bounds[i + 1] for i, f in enumerate(frames)), frames
    dataset.mode = "eval"
    assert frames_of(dataset[0]["video"]) == [(bounds[i] + bounds[i + 1]) // 2 for i in range(t)]
    if t == 8:
        assert frames_of(dataset[0]["video"]) == MIDDLES_30_8


# ---- mp4 files and the frame cache -----------------------------------------------------------


def write_indexed_video(path: Path, num_frames: int) -> Path:
    """An H.264 mp4 (32x24, 16 fps) of :class:`IndexedFrames`."""
    write_video(path, IndexedFrames([num_frames]).frames(0))
    return path


@pytest.fixture(scope="module")
def ssv2_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssv2")
    (root / "labels.json").write_text(json.dumps({"Holding something": "0", "Moving x": "1"}))
    items = [{"id": "1", "template": "Holding [something]"}, {"id": "2", "template": "Moving x"}]
    (root / "train.json").write_text(json.dumps(items))
    write_indexed_video(root / "1.mp4", 30)
    write_indexed_video(root / "2.mp4", 5)  # shorter than the clip
    return root


@pytest.mark.parametrize("cache", ["off", "on"])
def test_ssv2_files_give_segment_frames_from_mp4_and_cache(ssv2_files, tmp_path, cache):
    split = ssv2_files / "train.json"
    cfg = load_config(SSV2_MG, [
        f"data.train_annotations={split}", f"data.val_annotations={split}",
        f"data.cache={cache}", f"data.cache_dir={tmp_path / 'cache'}",
        "data.num_frames=8", "data.test_crop_size=16", "data.train_jitter_scales=[16,20]",
        "data.format=ssv2",
    ])  # fmt: skip
    train = build_dataset(cfg, "train", progress=False)
    for t in (4, 8):  # two long-cycle lengths
        train.set_grids([Grid(t, 16, 2, 2, 16, 20)])
        bounds = [round(29 / t * i) for i in range(t + 1)]
        frames = frames_of(train[ClipRequest(0, 0, t)]["video"])
        assert all(bounds[i] <= f <= bounds[i + 1] for i, f in enumerate(frames)), frames
    val = build_dataset(cfg, "val", progress=False)
    assert frames_of(val[0]["video"]) == MIDDLES_30_8
    assert frames_of(val[1]["video"]) == MIDDLES_5_8
    assert val[1]["label"].item() == 1


# ---- Charades: a clip's classes are the spans its frames cover -------------------------------

# 40 frames over 10 s: frame j sits at j * 0.25 s.
SPANS = (ActionSpan(1, 0.0, 2.0), ActionSpan(2, 2.25, 3.0), ActionSpan(3, 6.0, 9.5))


@pytest.mark.parametrize(
    ("frames", "classes"),
    [
        ([0, 2, 4, 6], (1,)),  # frames 0..6: 0 - 1.5 s
        ([8, 10, 12], (1, 2)),  # frame 8 at 2.0 s ends class 1 (ends included), 9 at 2.25 s
        ([13, 18, 23], ()),  # 3.25 - 5.75 s: between the actions
        ([20, 30, 39], (3,)),  # 5.0 - 9.75 s
        ([38, 39, 39], (3,)),  # frame 38 is at 9.5 s, where class 3 ends
        ([39], ()),  # 9.75 s
        ([0, 39], (1, 2, 3)),  # a long stride covers everything between its ends
    ],
)
def test_clip_classes_worked_example(frames, classes):
    assert clip_classes(SPANS, 10.0, 40, frames) == classes


CHARADES_HEADER = (
    "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length"
)


def charades_row(vid: str, actions: str, length: str) -> str:
    return f'{vid},S,Kitchen,6,7,Yes,"Cooks, eats.",food,"Cooks.",{actions},{length}'


@pytest.fixture(scope="module")
def charades_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("charades")
    # 40 frames at 16 fps, length 2.5 s: frame j at j / 16 s.
    rows = [charades_row("A", "c001 0.00 0.50;c002 1.00 1.50;c003 2.00 2.50", "2.5"),
            charades_row("B", "", "2.5")]  # fmt: skip
    (root / "Charades_v1_train.csv").write_text("\n".join([CHARADES_HEADER, *rows]) + "\n")
    for vid in ("A", "B"):
        write_indexed_video(root / f"{vid}.mp4", 40)
    return root


def expected_charades(frames: list[int]) -> set[int]:
    """The reference's rule, by hand: every frame from the first to the last, at j / 16 s."""
    times = [j / 16 for j in range(min(frames), max(frames) + 1)]
    spans = {1: (0.0, 0.5), 2: (1.0, 1.5), 3: (2.0, 2.5)}
    return {c for c, (s, e) in spans.items() if any(s <= t <= e for t in times)}


@pytest.mark.parametrize("cache", ["off", "on"])
def test_charades_training_clips_take_the_spans_they_cover(charades_files, tmp_path, cache):
    csv_path = charades_files / "Charades_v1_train.csv"
    cfg = load_config(CHARADES_MG, [
        f"data.train_annotations={csv_path}", f"data.val_annotations={csv_path}",
        f"data.cache={cache}", f"data.cache_dir={tmp_path / 'cache'}", "data.test_crop_size=16",
        "data.train_jitter_scales=[16,20]",
    ])  # fmt: skip
    train = build_dataset(cfg, "train", progress=False)
    seen = set()
    for t, rate in ((4, 1), (4, 3), (8, 1), (16, 2)):  # long-cycle lengths and strides
        train.set_grids([Grid(t, 16, rate, rate, 16, 20)])
        for seed in range(6):
            item = train[ClipRequest(0, 0, seed)]
            frames = frames_of(item["video"])
            want = expected_charades(frames)
            got = set(torch.nonzero(item["label"]).flatten().tolist())
            assert got == want, (t, rate, frames)
            seen.add(frozenset(got))
        assert set(torch.nonzero(train[ClipRequest(1, 0, 0)]["label"]).flatten().tolist()) == set()
    assert len(seen) > 1  # clips of one video got different labels
    val = build_dataset(cfg, "val", views=(2, 1), progress=False)
    assert set(torch.nonzero(val[0]["label"]).flatten().tolist()) == {1, 2, 3}  # video level


def test_charades_spans_without_length_are_refused_naming_the_video(tmp_path):
    csv_path = tmp_path / "Charades_v1_train.csv"
    csv_path.write_text("id,actions\nA,\nB,c001 0.0 1.0\n")
    cfg = load_config(CHARADES_MG, [f"data.train_annotations={csv_path}", "data.cache=off"])
    with pytest.raises(ConfigError) as err:
        build_dataset(cfg, "train", progress=False)
    text = str(err.value)
    assert "\n" not in text and str(csv_path) in text and "video B" in text and "length" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("id,actions,length\nA,c001 0.0 1.0,soon\n")
    with pytest.raises(ConfigError, match=r"bad\.csv: line 2: length 'soon' is not a positive"):
        build_dataset(load_config(CHARADES_MG, [f"data.train_annotations={bad}"]), "train")


# ---- the test: max of per-view sigmoids, then mAP against video-level labels -------------------

# Three videos, two classes, two views each (probabilities after the sigmoid).
VIEWS = {0: ([0.9, 0.2], [0.3, 0.6]), 1: ([0.1, 0.7], [0.55, 0.3]), 2: ([0.5, 0.1], [0.2, 0.95])}
LABELS = {0: [1.0, 0.0], 1: [0.0, 1.0], 2: [1.0, 1.0]}
# max: class 0 ranks 0 (.9, +), 1 (.55, -), 2 (.5, +): AP = (1/1 + 2/3) / 2 = 5/6; class 1
# ranks 2 (.95, +), 1 (.7, +), 0 (.6, -): AP = 1. mAP = (5/6 + 1) / 2 = 11/12.
# mean: class 0 ranks 0 (.6, +), 2 (.35, +), 1 (.325, -): AP = 1; class 1 as above: mAP = 1.
MAX_MAP, MEAN_MAP = 100 * 11 / 12, 100.0


def view_batches(order: list[tuple[int, int]]) -> list[dict]:
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return [{
        "video": torch.tensor([[logit(p) for p in VIEWS[v][k]] for v, k in chunk]),
        "label": torch.tensor([LABELS[v] for v, _ in chunk]),
        "index": torch.tensor([v for v, _ in chunk]),
        "valid": torch.tensor([True] * len(chunk)),
    } for chunk in (order[:4], order[4:])]  # fmt: skip


def test_max_over_views_map_worked_example():
    order = [(0, 0), (1, 0), (2, 1), (0, 1), (2, 0), (1, 1)]
    identity = lambda x: x  # noqa: E731
    got = evaluate(identity, view_batches(order), multi_label=True, ensemble="max")
    assert got["mAP"] == pytest.approx(MAX_MAP) and got["videos"] == 3
    got = evaluate(identity, view_batches(order), multi_label=True, ensemble="mean")
    assert got["mAP"] == pytest.approx(MEAN_MAP)
    # Views split over two processes combine the same way.
    first, second = view_batches(order)
    parts = [collect_scores(identity, [b], True, "max") for b in (first, second)]
    scores, _, _ = merge_scores(parts, "max")
    assert scores[1].tolist() == pytest.approx([0.55, 0.7])


def test_shipped_configs_and_pyslowfast_keys():
    ssv2, charades = load_config(SSV2_MG), load_config(CHARADES_MG)
    assert ssv2.data.temporal_sampling == "segments" and charades.data.temporal_sampling == "stride"
    assert (ssv2.test.num_ensemble_views, ssv2.test.num_spatial_crops) == (1, 1)
    assert (charades.test.num_ensemble_views, charades.test.num_spatial_crops) == (10, 3)
    assert charades.test.ensemble == "max" and RunConfig().test.ensemble == "mean"
    ours, _ = translate({"TRAIN": {"DATASET": "ssv2"}, "DATA": {"ENSEMBLE_METHOD": "max"}})
    assert ours["data"]["temporal_sampling"] == "segments" and ours["test"]["ensemble"] == "max"
    ours, _ = translate({})
    assert ours["data"]["temporal_sampling"] == "stride" and ours["test"]["ensemble"] == "mean"
    with pytest.raises(ConfigError, match=r"DATA\.ENSEMBLE_METHOD"):
        translate({"DATA": {"ENSEMBLE_METHOD": "vote"}})
