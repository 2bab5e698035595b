"""Annotation readers: Kinetics CSVs, SSv2 JSON, Charades multi-label, folders; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replication.config import ConfigError
from replication.data.annotations import (
    VideoRecord,
    guess_format,
    load_table,
    read_charades,
    read_csv_table,
    read_folder,
    read_kinetics_annotations,
    read_ssv2,
)
from replication.data.video_table import ActionSpan


def touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def assert_error(
    err: pytest.ExceptionInfo[ConfigError], path: Path, where: str, words: str
) -> None:
    text = str(err.value)
    assert "\n" not in text
    assert str(path) in text and where in text and words in text, text


# ---- path,label lists ----------------------------------------------------------------------


def test_csv_labels_by_index_with_header_and_classes_json(tmp_path):
    touch(tmp_path / "a.mp4", tmp_path / "sub/b.mp4")
    write(tmp_path / "classes.json", json.dumps(["cat", "dog", "eel"]))
    csv_path = write(tmp_path / "train.csv", "path,label\na.mp4,2\nsub/b.mp4,0\n\n")
    table = read_csv_table(csv_path)
    assert table.class_names == ("cat", "dog", "eel")
    assert table.records == (
        VideoRecord(tmp_path / "a.mp4", (2,)),
        VideoRecord(tmp_path / "sub/b.mp4", (0,)),
    )
    assert not table.multi_label and table.missing == 0


def test_csv_labels_by_name_derive_sorted_names(tmp_path):
    csv_path = write(tmp_path / "l.csv", 'x.mp4,dog\n/abs/y.mp4,"air drumming"\nz.mp4,dog\n')
    table = read_csv_table(csv_path, video_root=tmp_path / "videos")
    assert table.class_names == ("air drumming", "dog")
    assert [r.labels for r in table.records] == [(1,), (0,), (1,)]
    assert table.records[0].path == tmp_path / "videos/x.mp4"
    assert table.records[1].path == Path("/abs/y.mp4")
    assert table.missing == 3  # kept, but counted


def test_csv_names_and_indices_mix_when_names_are_known(tmp_path):
    csv_path = write(tmp_path / "l.csv", "a.mp4,dog\nb.mp4,0\n")
    table = read_csv_table(csv_path, class_names=["cat", "dog"])
    assert [r.labels for r in table.records] == [(1,), (0,)]


def test_pyslowfast_space_separated_without_header(tmp_path):
    touch(tmp_path / "my videos/a.mp4")
    csv_path = write(tmp_path / "train.csv", "my videos/a.mp4 3\nb.mp4 0\n")
    table = read_csv_table(csv_path, skip_missing=True)
    assert table.records == (VideoRecord(tmp_path / "my videos/a.mp4", (3,)),)
    assert table.class_names == ("0", "1", "2", "3")
    assert table.missing == 1


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("path,label\na.mp4,0\nb.mp4\n", "line 3", "expected 'path,label'"),
        ("a.mp4,0\nb.mp4,0,extra\n", "line 2", "expected 'path,label'"),
        ("a.mp4 0\nb.mp4\n", "line 2", "expected 'path label'"),
        ("a.mp4,cat\nb.mp4,cow\n", "line 2", "unknown class name 'cow'"),
        ("a.mp4,1\nb.mp4,2\n", "line 2", "label 2 out of range for 2 classes"),
        ("a.mp4,-1\n", "line 1", "label -1 out of range"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, text, line, words):
    csv_path = write(tmp_path / "l.csv", text)
    with pytest.raises(ConfigError) as err:
        read_csv_table(csv_path, class_names=["cat", "dog"])
    assert_error(err, csv_path, line, words)


def test_csv_mixed_labels_without_names(tmp_path):
    csv_path = write(tmp_path / "l.csv", "a.mp4,cat\nb.mp4,1\n")
    with pytest.raises(ConfigError) as err:
        read_csv_table(csv_path)
    assert_error(err, csv_path, "line 2", "classes.json")


def test_missing_and_broken_annotation_files(tmp_path):
    with pytest.raises(ConfigError) as err:
        read_csv_table(tmp_path / "nope.csv")
    assert_error(err, tmp_path / "nope.csv", "", "no such annotation file")
    write(tmp_path / "classes.json", '["cat",')
    csv_path = write(tmp_path / "l.csv", "a.mp4,0\n")
    with pytest.raises(ConfigError) as err:
        read_csv_table(csv_path)
    assert_error(err, tmp_path / "classes.json", "line 1", "invalid JSON")


# ---- Kinetics ------------------------------------------------------------------------------

K400_CSV = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,aaa,10,20,train,0
air drumming,bbb,0,10,train,0
air drumming,ccc,5,15,val,0
abseiling,ddd,30,40,train,0
"""


def test_kinetics_resolves_both_layouts_and_counts_missing(tmp_path):
    root = tmp_path / "k400"
    touch(
        root / "abseiling/aaa_000010_000020.mp4",  # downloader layout
        root / "air_drumming/bbb_000000_000010.mkv",  # underscored class folder, .mkv
        root / "ccc.webm",  # flat by id
    )
    csv_path = write(tmp_path / "kinetics_400.csv", K400_CSV)
    table = read_kinetics_annotations(csv_path, root)
    assert table.class_names == ("abseiling", "air drumming")
    assert [r.path for r in table.records] == [
        root / "abseiling/aaa_000010_000020.mp4",
        root / "air_drumming/bbb_000000_000010.mkv",
        root / "ccc.webm",
        root / "abseiling/ddd_000030_000040.mp4",  # missing: kept at the first candidate
    ]
    assert [r.labels for r in table.records] == [(0,), (1,), (1,), (0,)]
    assert table.missing == 1

    train = read_kinetics_annotations(csv_path, root, split="train", skip_missing=True)
    assert [r.path.name for r in train.records] == [
        "aaa_000010_000020.mp4",
        "bbb_000000_000010.mkv",
    ]
    assert train.missing == 1 and train.class_names == table.class_names


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("label,youtube_id,time_start\nx,a,1\n", "line 1", "missing column(s) time_end"),
        (
            "label,youtube_id,time_start,time_end\nx,a,1,11\nx,b,1.5,11\n",
            "line 3",
            "whole seconds, got 1.5,11",
        ),
        ("label,youtube_id,time_start,time_end\nx,a,1\n", "line 2", "expected 4 fields"),
    ],
)
def test_kinetics_errors(tmp_path, text, line, words):
    csv_path = write(tmp_path / "k.csv", text)
    with pytest.raises(ConfigError) as err:
        read_kinetics_annotations(csv_path, tmp_path)
    assert_error(err, csv_path, line, words)


# ---- Something-Something V2 ----------------------------------------------------------------

SSV2_LABELS = {"Putting something on something": "1", "Holding something": "0"}


def test_ssv2_removes_template_brackets(tmp_path):
    touch(tmp_path / "videos/1.webm", tmp_path / "videos/2.mp4")
    labels = write(tmp_path / "labels.json", json.dumps(SSV2_LABELS))
    split = write(
        tmp_path / "train.json",
        json.dumps(
            [
                {
                    "id": "1",
                    "label": "putting a cup on a box",
                    "template": "Putting [something] on [something]",
                },
                {"id": "2", "template": "Holding [something]", "placeholders": ["pen"]},
                {"id": "3", "template": "Holding [something]"},
            ]
        ),
    )
    table = read_ssv2(labels, split, tmp_path / "videos")
    assert table.class_names == ("Holding something", "Putting something on something")
    assert [(r.path.name, r.labels) for r in table.records] == [
        ("1.webm", (1,)),
        ("2.mp4", (0,)),
        ("3.webm", (0,)),
    ]
    assert table.missing == 1


def test_ssv2_unlabelled_test_list(tmp_path):
    labels = write(tmp_path / "labels.json", json.dumps(SSV2_LABELS))
    split = write(tmp_path / "test.json", json.dumps([{"id": "7"}]))
    assert read_ssv2(labels, split, tmp_path).records[0].labels == ()


@pytest.mark.parametrize(
    ("labels", "split", "bad", "where", "words"),
    [
        (
            SSV2_LABELS,
            '[{"id": "1", "template": "Dropping [something]"}]',
            "split",
            "item 0",
            "'Dropping something' not in labels.json",
        ),
        (SSV2_LABELS, '[{"id": "1"}, {"template": "x"}]', "split", "item 1", "'id'"),
        (SSV2_LABELS, '[{"id": "1"},\n {"id": 2,}]', "split", "line 2", "invalid JSON"),
        (SSV2_LABELS, '{"id": "1"}', "split", "", "expected a list"),
        ({"a": "0", "b": "2"}, "[]", "labels", "", "indices must be 0..1"),
        ({"a": "0", "b": "x"}, "[]", "labels", "", "mapping each template to an index"),
        ({"a": "0", "b": "0"}, "[]", "labels", "", "each once"),
    ],
)
def test_ssv2_errors(tmp_path, labels, split, bad, where, words):
    paths = {
        "labels": write(tmp_path / "labels.json", json.dumps(labels)),
        "split": write(tmp_path / "train.json", split),
    }
    with pytest.raises(ConfigError) as err:
        read_ssv2(paths["labels"], paths["split"], tmp_path)
    assert_error(err, paths[bad], where, words)


# ---- Charades ------------------------------------------------------------------------------

CHARADES_CSV = """id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length
46GP8,HR43,Kitchen,6,7,Yes,"A person cooks, then eats.",food;stove,"A person cooks.
Then eats.",c092 11.90 21.20;c147 0.00 12.60;c092 25.00 30.00,33.67
N11GT,P0MP,Bedroom,7,7,Yes,A person sleeps.,bed,A person sleeps.,,20.00
"""


def test_charades_multi_label_and_empty_actions(tmp_path):
    csv_path = write(tmp_path / "Charades_v1_train.csv", CHARADES_CSV)
    touch(tmp_path / "videos/46GP8.mp4")
    table = read_charades(csv_path, tmp_path / "videos")
    assert table.multi_label
    spans = (ActionSpan(92, 11.9, 21.2), ActionSpan(147, 0.0, 12.6), ActionSpan(92, 25.0, 30.0))
    assert table.records == (
        VideoRecord(tmp_path / "videos/46GP8.mp4", (92, 147), spans=spans, duration_s=33.67),
        VideoRecord(tmp_path / "videos/N11GT.mp4", (), duration_s=20.0),
    )
    assert table.missing == 1
    assert len(table.class_names) == 157 and table.class_names[92] == "c092"


def test_charades_class_names_from_the_classes_file(tmp_path):
    csv_path = write(tmp_path / "Charades_v1_test.csv", "id,actions\nA,c001 0 1\n")
    write(
        tmp_path / "Charades_v1_classes.txt",
        "c000 Holding some clothes\nc001 Putting clothes somewhere\n",
    )
    table = read_charades(csv_path, tmp_path, class_count=2)
    assert table.class_names == ("Holding some clothes", "Putting clothes somewhere")
    assert table.records[0].labels == (1,)


@pytest.mark.parametrize(
    ("actions", "words"),
    [
        ("c092 11.90", "bad action 'c092 11.90'"),
        ("x12 0 1", "bad action"),
        ("c157 0 1", "c157 out of range"),
    ],
)
def test_charades_errors(tmp_path, actions, words):
    csv_path = write(tmp_path / "c.csv", f"id,actions\nA,c001 0 1\nB,{actions}\n")
    with pytest.raises(ConfigError) as err:
        read_charades(csv_path, tmp_path)
    assert_error(err, csv_path, "line 3", words)


# ---- class folders and dispatch ------------------------------------------------------------


def test_folder_classes_are_sorted_subfolders(tmp_path):
    touch(
        tmp_path / "b/2.MP4", tmp_path / "b/1.avi", tmp_path / "a/x.webm", tmp_path / "b/notes.txt"
    )
    (tmp_path / "c").mkdir()
    (tmp_path / ".cache").mkdir()
    (tmp_path / "a/gone.mp4").symlink_to(tmp_path / "nowhere.mp4")  # dangling: still listed
    table = read_folder(tmp_path)
    assert table.class_names == ("a", "b", "c")
    assert [(r.path.relative_to(tmp_path).as_posix(), r.labels) for r in table.records] == [
        ("a/gone.mp4", (0,)),
        ("a/x.webm", (0,)),
        ("b/1.avi", (1,)),
        ("b/2.MP4", (1,)),
    ]
    with pytest.raises(ConfigError, match="no such folder"):
        read_folder(tmp_path / "nope")


def test_load_table_guesses_the_format(tmp_path):
    k400 = write(tmp_path / "k.csv", K400_CSV)
    charades = write(tmp_path / "c.csv", "id,actions\nA,\n")
    plain = write(tmp_path / "p.csv", "a.mp4 0\n")
    write(tmp_path / "labels.json", json.dumps(SSV2_LABELS))
    ssv2 = write(tmp_path / "validation.json", "[]")
    touch(tmp_path / "folder/cls/a.mp4")
    assert [guess_format(p) for p in (k400, charades, plain, ssv2, tmp_path / "folder")] == [
        "kinetics",
        "charades",
        "csv",
        "ssv2",
        "folder",
    ]
    assert len(load_table(k400, split="val").records) == 1
    assert load_table(k400, "auto", "", split="val") == load_table(
        k400, split="val"
    )  # config defaults
    assert load_table(charades).multi_label
    assert len(load_table(ssv2).class_names) == 2
    assert load_table(tmp_path / "folder").class_names == ("cls",)
    with pytest.raises(ConfigError, match="unknown format"):
        load_table(plain, "avi")
