"""The bad-video checker: which kinds probe and decode catch, the CLI's output and exit codes."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from shared import ROOT
from videos import BAD_KINDS, DECODE_ONLY, PROBE_CATCHES, make_dataset

from replication.data.check import BadVideo, check_video, find_bad_videos, main, write_report


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """19 good videos and one of every bad kind, listed in a path,label CSV."""
    return make_dataset(tmp_path_factory.mktemp("bad"), bad_kinds=BAD_KINDS)


@pytest.fixture(scope="module")
def good_dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("good"), n_good=4, bad_kinds=())


def run_check(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main([*map(str, argv), "--quiet"])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_probe_or_decode_catches_each_kind(dataset, kind):
    path = dataset[2][kind]
    assert (check_video(path) is not None) == (kind in PROBE_CATCHES)
    assert check_video(path, decode=True) is not None


def test_good_videos_pass_a_full_decode(dataset):
    assert all(check_video(path, decode=True) is None for path in dataset[1])


def test_reasons(dataset):
    bad = dataset[2]
    assert check_video(bad["missing"]) == "file not found"
    assert check_video(bad["empty"]) == "empty file"
    assert check_video(bad["audio_only"]) == "no video stream"
    assert check_video(bad["truncated_faststart"], decode=True).startswith(
        ("truncated", "cannot decode")
    )


def test_decode_lists_exactly_the_bad_files(dataset, capsys):
    csv_path, good, bad = dataset
    code, out, err = run_check(capsys, csv_path, "--decode", "--workers", "2")
    assert code == 1
    assert [line.split("\t")[0] for line in out] == [str(p) for p in bad.values()]
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1] for line in out)
    assert err[-1] == f"{len(good) + len(bad)} videos, {len(bad)} bad"


def test_probe_only_misses_the_decode_only_kinds(dataset, capsys):
    csv_path, _, bad = dataset
    code, out, _ = run_check(capsys, csv_path)
    assert code == 1
    listed = {line.split("\t")[0] for line in out}
    assert listed == {str(bad[k]) for k in PROBE_CATCHES}
    assert not listed & {str(bad[k]) for k in DECODE_ONLY}


def test_all_good_exits_zero(good_dataset, capsys):
    code, out, err = run_check(capsys, good_dataset[0], "--decode")
    assert (code, out, err[-1]) == (0, [], "4 videos, 0 bad")


def test_out_csv(dataset, tmp_path, capsys):
    csv_path = dataset[0]
    report = tmp_path / "reports/bad.csv"
    code, out, _ = run_check(capsys, csv_path, "--decode", "--out", report)
    assert code == 1
    with report.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "reason"]
    assert rows[1:] == [line.split("\t") for line in out]
    assert [p.name for p in report.parent.iterdir()] == ["bad.csv"]  # no temp file left


def test_bad_annotation_exits_2_with_one_line(tmp_path, capsys):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("a.mp4,0\nb.mp4\n")
    code, out, err = run_check(capsys, csv_path)
    assert (code, out) == (2, [])
    assert err == [f"error: {csv_path}: line 2: expected 'path,label', got 'b.mp4'"]
    code, _, err = run_check(capsys, tmp_path / "none.csv")
    assert code == 2 and len(err) == 1 and "no such annotation file" in err[0]
    code, _, err = run_check(capsys, "--split", "train", csv_path)
    assert code == 2 and err == ["error: --split: only applies to the kinetics format, not csv"]


def test_duplicates_are_checked_once_in_order(dataset):
    _, good, bad = dataset
    paths = [bad["empty"], good[0], bad["missing"], bad["empty"]]
    assert find_bad_videos(paths) == [
        BadVideo(bad["empty"], "empty file"),
        BadVideo(bad["missing"], "file not found"),
    ]


def test_write_report_replaces_atomically(tmp_path):
    report = tmp_path / "r.csv"
    report.write_text("old")
    write_report(report, [BadVideo(tmp_path / "a,b.mp4", 'says "no"')])
    with report.open(newline="") as f:
        assert list(csv.reader(f)) == [["path", "reason"], [str(tmp_path / "a,b.mp4"), 'says "no"']]


def test_module_entry_point(good_dataset):
    result = subprocess.run(
        [sys.executable, "-m", "replication.data.check", str(good_dataset[0])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "4 videos, 0 bad"
    assert "100%" in result.stderr  # the progress bar


def test_a_folder_without_class_folders_is_one_line_naming_what_it_holds(tmp_path, capsys):
    """A data set root (annotations beside a videos/ tree) is not a class-folder data set."""
    (tmp_path / "videos" / "train").mkdir(parents=True)
    for name in ("train.csv", "val.csv", "classes.json"):
        (tmp_path / name).write_text("path,label\n")
    code, out, err = run_check(capsys, tmp_path)
    assert code == 2 and out == []
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path}: no class sub-folders")
    assert "train.csv" in err[0] and "videos/" in err[0]
    assert f"pass an annotation file instead, e.g. {tmp_path / 'train.csv'}" in err[0]
