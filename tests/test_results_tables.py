from __future__ import annotations

import pytest
from shared import PLAN_FILE, ROOT, RUNS

from replication.results.cli import main
from replication.results.collect import collect
from replication.results.tables import Results, build_tables, write_tables
from replication.workflow import read_plan


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    collect(read_plan(ROOT / PLAN_FILE), RUNS).write(out)
    return out


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_tables_are_byte_identical_for_the_same_logs(results_dir, tmp_path):
    for name in ("a", "b"):
        assert main(["tables", "--plan", str(PLAN_FILE), "--results", str(results_dir),
                     "--out", str(tmp_path / name)]) == 0  # fmt: skip
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    assert {"tiny_main.md", "tiny_main.csv", "tiny_main.tex", "claims.md", "runs.tex"} <= set(first)
    assert "README.md" in first


def test_main_table_numbers_come_from_the_runs(results_dir):
    res = Results(read_plan(PLAN_FILE), results_dir)
    tables = {t.id: t for t in build_tables(res)}
    main_table = tables["tiny_main"]
    rows = {row[0]: dict(zip(main_table.columns, row, strict=True)) for row in main_table.rows}
    assert set(rows) == {"baseline", "long + short cycle", "baseline, 2 epochs"}
    assert rows["baseline"]["Speedup measured"] == "1.00\u00d7"
    measured, theory = res.speedups("tiny", "long_short")
    assert rows["long + short cycle"]["Speedup measured"] == f"{measured:.2f}\u00d7"
    assert theory > 1  # multigrid counts fewer training FLOPs than the baseline
    assert rows["baseline"]["Seeds"] == "2"
    assert "\u00b1" in rows["baseline"]["Top-1 (%)"]
    assert "tiny_ablations" in tables and "tiny_throughput" in tables


def test_latex_is_booktabs_and_claims_name_sources(results_dir, tmp_path):
    tables = build_tables(Results(read_plan(PLAN_FILE), results_dir))
    write_tables(tables, tmp_path, "t")
    tex = (tmp_path / "tiny_main.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\pm$" in tex
    claims = (tmp_path / "claims.md").read_text()
    assert "4.5\u00d7" in claims and "Wu et al. 2020, abstract" in claims
    assert "MODEL_ZOO" in claims


def test_missing_results_is_one_line_error(tmp_path, capsys):
    code = main(["tables", "--plan", str(PLAN_FILE), "--results", str(tmp_path), "--out",
                 str(tmp_path / "t")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "t").exists()
