from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from shared import PLAN_FILE, ROOT
from snakemake.utils import validate

from replication.workflow import (
    PlanError,
    expand_runs,
    load_plan,
    read_plan,
    skipped_variants,
    train_command,
)

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


def test_paper_plan_covers_the_paper_and_skips_nothing():
    plan = read_plan(PAPER)
    runs = expand_runs(plan)
    assert {r.experiment for r in runs} >= {
        "k400_slowfast_r50",
        "k400_i3d_r50",
        "k400_r2plus1d_r50",
        "ssv2_slowfast_16x8",
        "charades_slowfast_16x8",
    }
    archs = {
        r.resolved_config().model.arch for r in runs if r.variant == "baseline" and r.seed == 0
    }
    assert archs == {"slowfast", "i3d", "r2plus1d"}
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
    assert local.startswith("python -m replication train config/smoke/baseline.yaml")
    assert "--run-dir runs/fixture/tiny/baseline-s0" in local
    slurm = plan.model_copy(update={"cluster": "slurm", "slurm_profile": "slurm/a.yaml"})
    command = train_command(slurm, run)
    assert command.startswith("python -m replication launch config/smoke/baseline.yaml")
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
