"""Fine-tunes in a plan (``init_from``): run expansion, checks, and Snakemake's job order."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from shared import PLAN_FILE, ROOT
from snakemake.utils import validate
from test_workflow import _snakemake_dry_run

from replication.workflow import PlanError, expand_runs, load_plan, read_plan

SCHEMA = str(ROOT / "config" / "workflow.schema.json")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # plans name configs relative to the repository root


def _with_fine_tune(**init_from) -> dict:
    """The fixture plan with a second experiment, ``ft``, fine-tuning from experiment ``tiny``."""
    raw = yaml.safe_load(PLAN_FILE.read_text())
    ft = copy.deepcopy(raw["experiments"][0])
    ft.update(id="ft", title="Fine-tune", init_from=init_from or {"experiment": "tiny"})
    raw["experiments"].append(ft)
    return raw


def _runs(raw: dict) -> dict:
    return {run.run_id: run for run in expand_runs(load_plan(raw, source="plan.yaml"))}


def test_each_run_fine_tunes_from_the_same_variant_and_seed_by_default():
    runs = _runs(_with_fine_tune())
    assert runs["ft/long_short-s1"].init_from == "tiny/long_short-s1"
    assert runs["ft/baseline_e2-s0"].init_from == "tiny/baseline-s0"  # budget: the baseline's
    assert runs["tiny/baseline-s0"].init_from is None
    weights = [s for s in runs["ft/long_short-s1"].overrides if s.startswith("train.init_weights")]
    assert weights == ["train.init_weights=runs/fixture/tiny/long_short-s1"]
    cfg = runs["ft/long_short-s1"].resolved_config()
    assert cfg.train.init_weights == "runs/fixture/tiny/long_short-s1"


def test_a_fixed_source_run_starts_every_fine_tune():
    runs = _runs(_with_fine_tune(experiment="tiny", variant="baseline", seed=0))
    sources = {run.init_from for run_id, run in runs.items() if run_id.startswith("ft/")}
    assert sources == {"tiny/baseline-s0"}


def test_a_variant_may_name_its_own_source():
    raw = _with_fine_tune()
    raw["experiments"][1]["variants"][1]["init_from"] = {
        "experiment": "tiny",
        "variant": "baseline",
    }
    runs = _runs(raw)
    assert runs["ft/long_short-s0"].init_from == "tiny/baseline-s0"
    assert runs["ft/baseline-s0"].init_from == "tiny/baseline-s0"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw["experiments"][1]["init_from"].update(seed=7),
         r"run ft/baseline-s0 fine-tunes from tiny/baseline-s7, which the plan does not have"),
        (lambda raw: raw["experiments"][1]["init_from"].update(experiment="ft"),
         r"init_from goes round in a circle: ft/baseline-s0 -> ft/baseline-s0"),
        (lambda raw: raw["experiments"][0].update(init_from={"experiment": "ft"}),
         r"circle: tiny/baseline-s0 -> ft/baseline-s0 -> tiny/baseline-s0"),
        (lambda raw: raw["experiments"][1]["set"].append("model.width=16"),
         r"run ft/baseline-s0: model.width is 16 but its init_from run tiny/baseline-s0 has 8"),
        (lambda raw: raw["experiments"][1]["init_from"].update(experimentt="tiny"),
         r"experimentt"),
    ],
    ids=["no-such-run", "itself", "circle", "other-backbone", "unknown-key"],
)  # fmt: skip
def test_a_fine_tune_that_cannot_run_fails_the_plan_in_one_line(edit, message):
    raw = _with_fine_tune()
    edit(raw)
    with pytest.raises(PlanError, match=message) as err:
        load_plan(raw, source="plan.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("plan.yaml: ")


def test_the_paper_plan_fine_tunes_ssv2_and_charades_from_the_k400_baselines():
    runs = expand_runs(read_plan(ROOT / "config" / "config.yaml", ROOT / "config" / "paper.yaml"))
    tuned = {run.experiment for run in runs if run.init_from}
    assert tuned == {"ssv2_slowfast_16x8", "charades_slowfast_16x8"}
    assert all(
        run.init_from == f"k400_slowfast_r50/baseline-s{run.seed}" for run in runs if run.init_from
    )


def _train_jobs(text: str) -> list[tuple[str, list[str]]]:
    """(output summary, inputs) of each train job ``snakemake -n`` lists."""
    jobs = []
    for block in re.split(r"\n(?=rule |localrule )", text):
        if not re.match(r"(local)?rule train:", block):
            continue
        inputs = re.search(r"input: (.*)", block)
        output = re.search(r"output: (.*)", block)
        jobs.append(
            (output[1].strip(), [s.strip() for s in inputs[1].split(",")] if inputs else [])
        )
    return jobs


def test_dry_run_makes_each_source_an_input_of_its_fine_tunes(paper_workdir):
    code, _, text = _snakemake_dry_run(
        ("tables", "--configfile", "config/paper.yaml", "--forceall"), paper_workdir
    )
    assert code == 0, text
    jobs = _train_jobs(text)
    summary = "runs/paper/{}/summary.json"
    tuned = [(o, i) for o, i in jobs if "/ssv2_" in o or "/charades_" in o]
    assert len(tuned) == 2 * 4 * 3  # two data sets, 4 variants, 3 seeds
    for output, inputs in tuned:
        seed = re.search(r"-s(\d+)/", output)[1]
        source = summary.format(f"k400_slowfast_r50/baseline-s{seed}")
        assert source in inputs, (output, inputs)  # an input: Snakemake trains it first


def test_picking_a_fine_tune_experiment_trains_its_sources_too(paper_workdir):
    args = ("tables", "--configfile", "config/paper.yaml", "--config",
            "experiments=[ssv2_slowfast_16x8]", "--forceall")  # fmt: skip
    code, counts, text = _snakemake_dry_run(args, paper_workdir)
    assert code == 0, text
    outputs = [output for output, _ in _train_jobs(text)]
    assert counts["train"] == len(outputs) == 12 + 3  # 4 variants x 3 seeds, 3 K400 baselines
    assert sum("k400_slowfast_r50/baseline-s" in o for o in outputs) == 3


def test_the_smoke_fine_tune_plan_trains_its_sources_first():
    """config/smoke_finetune.yaml: pre-training, then fine-tunes that take its runs as inputs."""
    validate(yaml.safe_load((ROOT / "config/smoke_finetune.yaml").read_text()), SCHEMA)
    code, counts, text = _snakemake_dry_run(
        ("tables", "--configfile", "config/smoke_finetune.yaml", "--forceall")
    )
    assert code == 0, text
    jobs = dict(_train_jobs(text))
    assert counts["train"] == len(jobs) == 2 + 6 + 6
    for output, inputs in jobs.items():
        variant = re.search(r"/(\w+)-s\d+/summary.json", output)[1]
        source = f"runs/smoke_finetune/pretrain/{variant}-s0/summary.json"
        assert (source in inputs) == ("/fine_tuned/" in output), (output, inputs)
