"""A plan's data set may ask for the multi-resolution store: one rule writes it before its runs."""

from __future__ import annotations

import re

import pytest
import yaml
from shared import PLAN_FILE, ROOT
from test_workflow import _snakemake_dry_run

from replication.workflow import expand_runs, load_plan
from replication.workflow.commands import copies_command

DATA = "data/copies_test"
MANIFEST = f"{DATA}/short16/manifest.json"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # plans name configs relative to the repository root


def _with_copies() -> dict:
    """The fixture plan, renamed, on a generated data set that asks for 16-px copies."""
    raw = yaml.safe_load(PLAN_FILE.read_text())
    raw["name"] = "copies_test"
    raw["datasets"] = {"synthetic": None, "fixture": None, "copied": {
        "train_annotations": f"{DATA}/train.csv", "val_annotations": f"{DATA}/val.csv",
        "generate": {"train_per_class": 2, "val_per_class": 1}, "copies": [16]}}  # fmt: skip
    for experiment in raw["experiments"]:
        experiment["dataset"] = "copied"
    return raw


def test_runs_on_the_data_set_read_its_copies():
    plan = load_plan(_with_copies(), source="plan.yaml")
    runs = expand_runs(plan)
    assert runs and all("data.copies=[16]" in run.overrides for run in runs)
    assert runs[0].resolved_config().data.copies == (16,)
    command = copies_command(plan.datasets["copied"], 16)
    assert command == f"python -m replication.data.copies {DATA}/train.csv --short-side 16"


def test_dry_run_writes_the_copies_once_before_the_training_jobs(tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(_with_copies()))
    args = ("tables", "--configfile", str(plan_file), "--forceall")
    code, counts, text = _snakemake_dry_run(args)
    assert code == 0, text
    assert counts["video_copies"] == 1
    assert counts["train"] == len(expand_runs(load_plan(_with_copies(), source="plan.yaml")))
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", text)
    copy_job = next(i for i, b in enumerate(blocks) if b.lstrip().startswith(("rule video_co",
                                                                             "localrule video_co")))  # fmt: skip
    assert f"output: {MANIFEST}" in blocks[copy_job] and f"{DATA}/train.csv" in blocks[copy_job]
    trains = [i for i, b in enumerate(blocks) if re.match(r"\s*(local)?rule train:", b)]
    assert trains and min(trains) > copy_job
    assert all(MANIFEST in blocks[i] for i in trains)  # an input of every run on the data set
