from __future__ import annotations

import copy

import pytest
import yaml
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
    assert rows["baseline"]["Speedup train"] == rows["baseline"]["Speedup total"] == "1.00\u00d7"
    measured, theory = res.speedups("tiny", "long_short")
    total = res.speedup("tiny", "long_short", "total_s")
    mg = rows["long + short cycle"]
    assert mg["Speedup train"] == f"{measured:.2f}\u00d7"
    assert mg["Speedup total"] == f"{total:.2f}\u00d7"
    assert mg["Efficiency train"] == f"{measured / theory:.2f}"
    assert mg["Efficiency total"] == f"{total / theory:.2f}"
    assert theory > 1  # multigrid counts fewer training FLOPs than the baseline
    assert any("older than the job clock" in note for note in main_table.notes)
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


def test_claims_set_wall_clock_beside_total_time(results_dir):
    res = Results(read_plan(PLAN_FILE), results_dir)
    claims = next(t for t in build_tables(res) if t.id == "claims")
    rows = [dict(zip(claims.columns, row, strict=True)) for row in claims.rows]
    paper = next(r for r in rows if r["Reported"] == "4.5\u00d7")
    assert paper["Ours"] == f"{res.speedup('tiny', 'long_short', 'total_s'):.2f}\u00d7"
    assert paper["Our figure"] == "total wall-clock speedup, 1 CPU"
    one_gpu = next(r for r in rows if r["Setting"] == "k400_slowfast_r50_1gpu")
    assert one_gpu["Ours"] == "not run"  # no experiment of the fixture plan is a 1-GPU one


@pytest.fixture
def subset_plan(tmp_path):
    """The fixture plan with a second experiment none of whose runs exist."""
    raw = yaml.safe_load(PLAN_FILE.read_text())
    second = {**copy.deepcopy(raw["experiments"][0]), "id": "tiny_more", "title": "Not trained"}
    second["compare_with"] = "k400_slowfast_r50_1gpu"
    raw["experiments"].append(second)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return read_plan(path)


def test_a_plan_subset_gives_tables_of_what_ran_and_not_run(subset_plan, fixture_runs_copy,
                                                            tmp_path, capsys):  # fmt: skip
    """One experiment of two ran, and one seed of long + short is missing."""
    (fixture_runs_copy / "fixture/tiny/long_short-s1/summary.json").unlink()
    collect(subset_plan, fixture_runs_copy).write(tmp_path / "results")
    assert "runs of plan 'fixture' have not finished" in capsys.readouterr().err
    res = Results(subset_plan, tmp_path / "results")
    tables = {t.id: t for t in build_tables(res)}
    assert {"tiny_main", "tiny_ablations", "tiny_throughput", "tiny_more_main"} <= set(tables)
    assert "tiny_more_ablations" not in tables and "tiny_more_throughput" not in tables
    ran = {row[0]: row for row in tables["tiny_main"].rows}
    assert ran["long + short cycle"][1] == "1 of 2" and ran["baseline"][1] == "2"
    assert any("tiny/long_short-s1" in note for note in tables["tiny_main"].notes)
    for row in tables["tiny_more_main"].rows:  # a table saying so
        assert row[1] == "not run" and set(row[2:]) == {"\u2013"}
    assert {row[0] for row in tables["tiny_more_main"].rows} == {
        "baseline", "long + short cycle", "baseline, 2 epochs"}  # fmt: skip
    claims = {(row[0], row[-1]): row for row in tables["claims"].rows}
    assert claims[("k400_slowfast_r50_1gpu", "tiny_more")][4] == "not run"
    not_run = [row for row in tables["runs"].rows if row[1] == "not run"]
    assert len(not_run) == 1 + 6  # the missing seed, and every run of the second experiment
    write_tables(list(tables.values()), tmp_path / "tables", "t")
    index = (tmp_path / "tables" / "README.md").read_text()
    assert "(tiny_more_main.md" in index and "tiny_more_main.tex)): not run" in index
    assert "tiny_main.tex))\n" in index


def test_claims_mark_a_start_unlike_the_claims(results_dir, tmp_path):
    """SSv2 claims come from K400-initialised models; an experiment from scratch is marked."""
    raw = yaml.safe_load(PLAN_FILE.read_text())
    raw["experiments"][0]["compare_with"] = "ssv2_slowfast_16x8"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    claims = next(
        t for t in build_tables(Results(read_plan(path), results_dir)) if t.id == "claims"
    )
    rows = [dict(zip(claims.columns, row, strict=True)) for row in claims.rows]
    zoo = next(r for r in rows if r["Reported"] == "63.0")
    assert zoo["Our figure"].endswith(
        "; unlike: ours trained from scratch, the claim's fine-tuned from k400_slowfast_r50"
    )
    unknown = next(r for r in rows if r["Reported"] == "61.7")  # PwC: its start is not known
    assert "unlike" not in unknown["Our figure"]
    k400 = [r for r in rows if r["Setting"] == "k400_slowfast_r50"]
    assert k400 and all("unlike" not in r["Our figure"] for r in k400)
