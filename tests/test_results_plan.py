from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from shared import PLAN_FILE, ROOT
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from replication.data.synthetic.params import GeneratorParams
from replication.workflow import (
    Generate,
    PlanError,
    expand_runs,
    load_plan,
    read_plan,
    skipped_variants,
    train_command,
)
from replication.workflow.cli import main as workflow_cli
from replication.workflow.cost import clips_per_epoch
from replication.workflow.load import merge_plan_files
from replication.workflow.schema import plan_schema

SMOKE = ROOT / "config" / "config.yaml"
PAPER = ROOT / "config" / "paper.yaml"
SCHEMA = str(ROOT / "config" / "workflow.schema.json")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # plans name configs relative to the repository root


def _raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", [SMOKE, PAPER, PLAN_FILE])
def test_shipped_plans_pass_the_schema(path):
    validate(_raw(path), SCHEMA)


def test_schema_rejects_an_unknown_key():
    raw = _raw(SMOKE) | {"clusterr": "slurm"}
    with pytest.raises(Exception, match="clusterr"):
        validate(raw, SCHEMA)


def test_smoke_plan_runs():
    runs = expand_runs(read_plan(SMOKE))
    ids = [r.run_id for r in runs]
    assert len(ids) == len(set(ids))
    by_group = {g: [r for r in runs if r.group == g] for g in ("main", "ablation", "budget")}
    assert {r.variant for r in by_group["main"]} == {"baseline", "long", "short", "long_short"}
    assert all(len([r for r in by_group["main"] if r.variant == v]) == 3 for v in ("long",))
    assert len(by_group["ablation"]) >= 2
    assert by_group["budget"] and all(
        r.variant.startswith("baseline_e") for r in by_group["budget"]
    )
    budget = by_group["budget"][0]
    assert any(s.startswith("solver.max_epoch=") for s in budget.overrides)
    assert budget.resolved_config().solver.max_epoch < runs[0].resolved_config().solver.max_epoch


def test_only_runs_whose_curves_are_read_evaluate_curve_points():
    runs = expand_runs(read_plan(SMOKE))
    fractions = {r.group: r.resolved_config().train.curve_fractions for r in runs}
    assert fractions["main"] and fractions["budget"]
    assert fractions["ablation"] == ()


def test_a_variant_can_ask_for_its_curve_points_back():
    raw = _raw(SMOKE)
    ablation = next(v for v in raw["experiments"][0]["variants"] if v.get("group") == "ablation")
    ablation["set"] = [*ablation.get("set", ()), "train.curve_fractions=[0.5, 1.0]"]
    runs = expand_runs(load_plan(raw))
    run = next(r for r in runs if r.variant == ablation["name"])
    assert run.resolved_config().train.curve_fractions == (0.5, 1.0)


def test_paper_plan_covers_the_paper_and_skips_nothing():
    plan = read_plan(PAPER)
    runs = expand_runs(plan)
    assert {r.experiment for r in runs} >= {
        "k400_slowfast_r50",
        "k400_i3d_r50",
        "k400_i3d_nl_r50",
        "k400_r2plus1d_r50",
        "ssv2_slowfast_16x8",
        "charades_slowfast_16x8",
    }
    archs = {
        r.resolved_config().model.arch for r in runs if r.variant == "baseline" and r.seed == 0
    }
    assert archs == {"slowfast", "i3d", "i3d_nl", "r2plus1d"}
    # Every key the variants require exists now (multigrid.fine_tune included): none is skipped.
    assert skipped_variants(plan) == []
    no_ft = [r for r in runs if r.variant == "no_fine_tune"]
    assert [r.experiment for r in no_ft] == ["k400_slowfast_r50"]
    assert no_ft[0].resolved_config().multigrid.fine_tune is False
    assert "data.format=kinetics" in runs[0].overrides


def test_a_variant_needing_a_missing_key_is_skipped():
    raw = _raw(PLAN_FILE)
    variants = raw["experiments"][0]["variants"]
    variants.append(dict(variants[1], name="future", requires_key="multigrid.not_yet"))
    plan = load_plan(raw, source="plan.yaml")
    assert skipped_variants(plan) == [f"{plan.experiments[0].id}/future"]
    assert "future" not in {r.variant for r in expand_runs(plan)}


def test_train_command_follows_the_cluster():
    plan = read_plan(PLAN_FILE)
    run = expand_runs(plan)[0]
    local = train_command(plan, run)
    assert local.startswith(
        "python -m replication train tests/fixtures/configs/smoke_baseline.yaml"
    )
    assert "--run-dir runs/fixture/tiny/baseline-s0" in local
    slurm = plan.model_copy(update={"cluster": "slurm", "slurm_profile": "slurm/a.yaml"})
    command = train_command(slurm, run)
    assert command.startswith(
        "python -m replication launch tests/fixtures/configs/smoke_baseline.yaml"
    )
    assert "--cluster slurm --slurm slurm/a.yaml" in command
    assert "--set train.seed=0" in command


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["experiments"][0].update(dataset="nope"), "dataset 'nope' is not in datasets"),
        (
            lambda p: p["experiments"][0]["variants"][1].update(set=["solver.max_epochs=3"]),
            "run tiny/long_short-s0: .*solver.max_epochs: unknown key",
        ),
        (lambda p: p["experiments"][0]["variants"].pop(0), "needs a variant named 'baseline'"),
        (lambda p: p.update(cluster="cloud"), "cluster"),
        (lambda p: p["experiments"][0].update(budget_fractions=[0.1]), "squeezes the LR steps"),
    ],
)
def test_bad_plans_fail_with_one_line(edit, message):
    raw = _raw(PLAN_FILE)
    edit(raw)
    with pytest.raises(PlanError, match=message) as err:
        load_plan(raw, source="plan.yaml")
    assert "\n" not in str(err.value)


# --- the generated schema, the generator record, plan files and the workflow CLI ----------------


def test_schema_is_current():
    assert Path(SCHEMA).read_text() == plan_schema(), "run `make docs`"


def _dataset(p):
    return p["datasets"]["synthetic"]


def _variant(p):
    return p["experiments"][0]["variants"][0]


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.update(cluster="cloud"),
        lambda p: p.update(clusterr="slurm"),
        lambda p: p.update(seeds=[]),
        lambda p: p.update(bootstrap_seed=-1),
        lambda p: p.update(datasets={}),
        lambda p: _dataset(p).update(videos="x"),
        lambda p: _dataset(p).update(generate={}),
        lambda p: _dataset(p)["generate"].update(val_per_class=0),
        lambda p: _dataset(p)["generate"].update(object_pct=71),
        lambda p: _dataset(p)["generate"].update(motions="spin"),
        lambda p: _dataset(p)["generate"].update(size=33),
        lambda p: _dataset(p)["generate"].update(textures=2),
        lambda p: p["experiments"][0].update(budget_fractions=[1.0]),
        lambda p: p["experiments"][0].update(set=["no_dot=1"]),
        lambda p: _variant(p).update(group="other"),
        lambda p: _variant(p).update(seeds=[-1]),
    ],
)
def test_schema_and_records_reject_alike(edit):
    """What the hand-written schema rejected, the generated one and the records still reject."""
    raw = _raw(SMOKE)
    edit(raw)
    with pytest.raises(WorkflowError, match="Error validating config file"):
        validate(copy.deepcopy(raw), SCHEMA)
    with pytest.raises(PlanError):
        load_plan(raw, source="config.yaml")


def test_plan_generate_is_the_generator_record():
    assert issubclass(Generate, GeneratorParams)
    generate = read_plan(SMOKE).datasets["synthetic"].generate
    assert (
        generate.model_dump()
        == GeneratorParams(**_raw(SMOKE)["datasets"]["synthetic"]["generate"]).model_dump()
    )
    plan = read_plan(PLAN_FILE)
    fixture = plan.datasets["fixture"].generate
    assert clips_per_epoch(plan, "fixture") == fixture.train_per_class * fixture.classes == 96
    raw = _raw(SMOKE)
    _dataset(raw)["generate"]["size"] = 33  # a generator constraint, checked by the plan
    with pytest.raises(PlanError, match=r"datasets\.synthetic\.generate\.size: .*multiple of 2"):
        load_plan(raw, source="config.yaml")


@pytest.mark.parametrize(
    "files",
    [
        [SMOKE, PAPER],
        [SMOKE, ROOT / "config" / "smoke_long.yaml"],
        [SMOKE, PLAN_FILE],
        [SMOKE, PAPER, ROOT / "config" / "smoke_long.yaml"],
    ],
)
def test_plan_files_merge_as_snakemake_merges_configfiles(files):
    """As snakemake does: the --configfile files among themselves, then over the configfile."""
    config, overrides = _raw(files[0]), {}
    for path in files[1:]:
        update_config(overrides, _raw(path))
    update_config(config, overrides)
    assert merge_plan_files([_raw(path) for path in files]) == config


def test_merge_follows_snakemake_where_order_matters():
    base = {"datasets": {"a": {"x": 1}}}
    first, second = {"datasets": {"a": None}}, {"datasets": {"a": {"y": 2}}}
    expected, overrides = copy.deepcopy(base), {}
    update_config(overrides, first)
    update_config(overrides, second)
    update_config(expected, overrides)
    assert (
        merge_plan_files([base, first, second]) == expected == {"datasets": {"a": {"x": 1, "y": 2}}}
    )
    assert base == {"datasets": {"a": {"x": 1}}}  # nothing merged into its inputs


def test_workflow_cli_saves_the_merged_plan(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert (
        workflow_cli(["plan", "--plan", str(SMOKE), "--plan", str(PAPER), "--write", str(out)]) == 0
    )
    assert out.read_text() == read_plan(PAPER).model_dump_json(indent=1) + "\n"
    assert read_plan(out) == read_plan(SMOKE, PAPER)
    assert workflow_cli(["plan", "--plan", str(PLAN_FILE)]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("plan 'fixture': ") and "total estimated compute" in listing
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: cloud\n")
    assert workflow_cli(["plan", "--plan", str(SMOKE), "--plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cloud" in err
    assert workflow_cli(["schema"]) == 0
    assert capsys.readouterr().out == plan_schema()


def test_the_1_gpu_experiment_runs_on_its_own_profile_with_the_lr_scaled():
    plan = read_plan(PAPER)
    runs = [r for r in expand_runs(plan) if r.experiment == "k400_slowfast_r50_1gpu"]
    assert {r.variant for r in runs} == {"baseline", "long_short"}
    for run in runs:
        assert "--slurm slurm/one-gpu.yaml" in train_command(plan, run)
        cfg = run.resolved_config()
        assert (cfg.train.num_gpus, cfg.train.batch_size) == (1, 8)
    eight = next(r for r in expand_runs(plan) if r.experiment == "k400_slowfast_r50")
    assert "--slurm slurm/default.yaml" in train_command(plan, eight)
