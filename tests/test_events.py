"""The event log: schema, rank-0 only, torn lines, exact-resume truncation."""

from __future__ import annotations

import json

import pytest

from replication.io import events as ev


def write_sample(writer: ev.EventWriter) -> None:
    writer.write(ev.PHASE, epoch=0, phase=0, num_frames=2, crop_size=40, batch_size=64, bn="sub")
    writer.write(ev.EVAL, epoch=0, step=10, metrics={"top1": 0.5})


def test_events_are_json_lines_with_name_and_time(tmp_path):
    w = ev.EventWriter(tmp_path / "events.jsonl")
    write_sample(w)
    w.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["phase", "eval"]
    assert all(isinstance(json.loads(x)["time_s"], float) for x in lines)
    assert ev.read_events(tmp_path / "events.jsonl")[1]["metrics"] == {"top1": 0.5}


def test_schema_is_enforced(tmp_path):
    w = ev.EventWriter(tmp_path / "e.jsonl")
    with pytest.raises(ValueError, match="unknown event"):
        w.write("trian", epoch=0)
    with pytest.raises(ValueError, match="lacks metrics, step"):
        w.write(ev.EVAL, epoch=0)
    with pytest.raises(ValueError):
        w.write(ev.EVAL, epoch=0, step=1, metrics={"top1": float("nan")})  # JSON has no NaN
    w.close()
    assert ev.finite(float("nan")) is None and ev.finite(1.5) == 1.5


def test_only_rank_zero_writes(tmp_path):
    w = ev.EventWriter(tmp_path / "e.jsonl", enabled=False)
    write_sample(w)
    w.close()
    assert not (tmp_path / "e.jsonl").exists()


def test_torn_last_line_is_skipped_but_bad_middle_line_is_an_error(tmp_path):
    path = tmp_path / "e.jsonl"
    w = ev.EventWriter(path)
    write_sample(w)
    w.close()
    with open(path, "a") as f:
        f.write('{"event": "train", "ep')
    assert len(ev.read_events(path)) == 2
    path.write_text('{"event": "eval"}\nnot json\n{"event": "eval"}\n')
    with pytest.raises(ValueError, match="line 2"):
        ev.read_events(path)


def test_truncate_to_checkpoint_offset(tmp_path):
    path = tmp_path / "e.jsonl"
    w = ev.EventWriter(path)
    w.write(ev.CHECKPOINT, epoch=0, step=5, path="ckpt.pt")
    offset = w.offset()
    write_sample(w)
    w.close()
    ev.truncate_log(path, offset)
    assert [e["event"] for e in ev.read_events(path)] == ["checkpoint"]
    w = ev.EventWriter(path)  # appending after the cut continues cleanly
    write_sample(w)
    w.close()
    assert [e["event"] for e in ev.read_events(path)] == ["checkpoint", "phase", "eval"]


def test_added_fields_are_not_required():
    """Fields newer than some logs (the job clock, per-part times) stay optional to read."""
    assert set(ev.ADDED) <= set(ev.REQUIRED)
    for event, added in ev.ADDED.items():
        assert not added & ev.REQUIRED[event], event
