"""Every plan the repository ships loads: schema, records, every run's config and schedule."""

from __future__ import annotations

import pytest
import yaml
from shared import ROOT
from snakemake.utils import validate

from replication.workflow import expand_runs, read_plan

SCHEMA = str(ROOT / "config" / "workflow.schema.json")
PLANS = sorted(
    p for p in (ROOT / "config").glob("*.yaml") if "experiments" in yaml.safe_load(p.read_text())
)


def test_the_known_plans_are_found():
    names = {p.name for p in PLANS}
    assert {"config.yaml", "paper.yaml", "smoke_long.yaml", "smoke_finetune.yaml",
            "smoke_sweep.yaml", "smoke_motion.yaml"} <= names  # fmt: skip


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_a_shipped_plan_loads(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    validate(yaml.safe_load(path.read_text()), SCHEMA)
    files = [ROOT / "config" / "config.yaml"] + ([path] if path.name != "config.yaml" else [])
    runs = expand_runs(read_plan(*files))
    assert runs and len({r.run_id for r in runs}) == len(runs)


def test_the_sweep_plan_has_two_lines_of_four_lengths(monkeypatch):
    monkeypatch.chdir(ROOT)
    plan = read_plan(ROOT / "config" / "config.yaml", ROOT / "config" / "smoke_sweep.yaml")
    lines: dict[str, set[int]] = {}
    for run in expand_runs(plan):
        variant = next(v for v in plan.experiments[0].variants if v.name == run.variant)
        lines.setdefault(variant.sweep, set()).add(run.resolved_config().solver.max_epoch)
    assert lines == {"baseline": {15, 30, 60, 120}, "long + short cycle": {15, 30, 60, 120}}
