from __future__ import annotations

import json

import pytest
from results_fixtures import PLAN_FILE, ROOT, RUNS

from replication.results.collect import collect
from replication.results.figures import build_figures
from replication.results.report import write_report
from replication.workflow import read_plan


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_figures_and_report(tmp_path):
    plan = read_plan(PLAN_FILE)
    collect(plan, RUNS).write(tmp_path / "results")
    made = build_figures(plan, tmp_path / "results", tmp_path / "figures")
    ids = {f.id for f in made}
    assert ids == {
        "tiny_accuracy_vs_time",
        "tiny_training_curves",
        "tiny_schedule",
        "tiny_ablations",
        "tiny_throughput",
    }
    for figure in made:
        for ext in ("png", "pdf"):
            path = tmp_path / "figures" / f"{figure.id}.{ext}"
            assert path.stat().st_size > 1000
        assert figure.caption
    index = json.loads((tmp_path / "figures" / "figures.json").read_text())
    assert [e["id"] for e in index] == [f.id for f in made]
    png = (tmp_path / "figures" / "tiny_schedule.png").read_bytes()
    build_figures(plan, tmp_path / "results", tmp_path / "again")
    assert (tmp_path / "again" / "tiny_schedule.png").read_bytes() == png  # deterministic

    write_report(plan, tmp_path / "results", tmp_path / "figures", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(made)
    assert "<figcaption>" in html and 'id="tiny_main"' in html and "\\toprule" not in html
