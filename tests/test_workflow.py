"""`snakemake -n` on both plans: the Snakefile parses, validates and lists every run, fast."""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from shared import ROOT

from replication.data.synthetic.cli import build_parser, command_line
from replication.data.synthetic.params import GeneratorParams
from replication.io import RunPaths
from replication.workflow import PlanError, expand_runs, read_plan, train_command
from replication.workflow.load import merge_plan_files, read_config
from replication.workflow.preflight import missing_pieces
from replication.workflow.snakefile import workflow_view


def _snakemake_dry_run(args: tuple[str, ...], cwd: Path = ROOT) -> tuple[int, dict, str]:
    """Exit code, job counts and output of ``snakemake ARGS -n`` (the repository's Snakefile)
    in ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args, "-n",
         "--nolock"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    text = done.stdout + done.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    return done.returncode, counts, text


@functools.cache
def _dry_run(*args: str) -> tuple[dict[str, int], str]:
    """Job counts and output of a dry run in the repository; each runs once per session."""
    code, counts, text = _snakemake_dry_run(args)
    assert code == 0, text
    return counts, text


@pytest.mark.parametrize(
    ("args", "plan_file"),
    [
        ((), "config/config.yaml"),
        (("smoke", "--configfile", "config/paper.yaml"), "config/config.yaml"),
    ],
)
def test_dry_run_lists_the_whole_plan(args, plan_file, monkeypatch):
    """Every run of the plan, whatever is already trained here (--forceall: after `make tables`
    a plain dry run rightly lists no training). The smoke target needs nothing of the paper
    plan's data, so the paper plan's missing pieces do not stop it."""
    monkeypatch.chdir(ROOT)
    started = time.monotonic()
    counts, _ = _dry_run(*args, "--forceall")
    assert time.monotonic() - started < 30
    assert counts["train"] == len(expand_runs(read_plan(ROOT / plan_file)))
    assert counts["collect"] == 1


def test_paper_plan_dry_run_plans_every_run_once_its_data_and_profiles_exist(paper_workdir):
    code, counts, text = _snakemake_dry_run(
        ("tables", "--configfile", "config/paper.yaml", "--forceall"), paper_workdir
    )
    assert code == 0, text
    assert counts["train"] == len(expand_runs(read_plan("config/config.yaml", "config/paper.yaml")))
    assert counts["collect"] == 1


def test_dry_run_trains_only_the_experiments_picked_on_the_command_line(paper_workdir):
    """`--config experiments=[ID]` trains that experiment; only its data must exist, and the
    saved plan records the choice (the tables show the others as not run)."""
    for name in ("ssv2", "charades"):
        shutil.rmtree(paper_workdir / "data" / name)
    args = ("tables", "--configfile", "config/paper.yaml", "--config",
            "experiments=[k400_slowfast_r50_1gpu]", "--forceall")  # fmt: skip
    code, counts, text = _snakemake_dry_run(args, paper_workdir)
    assert code == 0, text
    assert counts["train"] == 2
    assert "--select k400_slowfast_r50_1gpu --write results/paper/plan.json" in text


def test_dry_run_rejects_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: cloud\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(bad)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "cloud" in done.stdout + done.stderr


def test_dry_run_commands_come_from_the_package(monkeypatch):
    """The data rule runs the plan's generator record, the train rule the package's command, and
    the plan rule reads the plan files (no plan on the command line)."""
    monkeypatch.chdir(ROOT)
    _, text = _dry_run("--forceall")  # the profile prints every shell command
    shell = re.findall(r"^Shell command: (.*)$", text, re.MULTILINE)
    plan = read_plan(ROOT / "config/config.yaml")
    data = plan.datasets["synthetic"]
    data_command = command_line("data/synthetic", data.generate, force=True)
    assert f"{data_command} > logs/data/data/synthetic.log 2>&1" in shell
    args = vars(build_parser().parse_args(shlex.split(data_command)[3:]))
    ran = GeneratorParams(**{k: args[k] for k in GeneratorParams.model_fields})
    assert ran.model_dump() == data.generate.model_dump()
    for run in expand_runs(plan):
        log = f"logs/smoke/train/{run.run_id}.log"
        assert f"{train_command(plan, run)} > {log} 2>&1" in shell
    assert (
        "python -m replication.workflow plan --plan config/config.yaml "
        "--write results/smoke/plan.json 2> logs/smoke/plan.log"
    ) in shell


def _smoke_config() -> dict:
    return merge_plan_files([read_config(ROOT / "config/config.yaml")])


def test_view_lists_run_folders_through_run_paths(monkeypatch):
    monkeypatch.chdir(ROOT)
    view = workflow_view(_smoke_config(), [])
    runs = expand_runs(view.active)
    summaries = [str(RunPaths(run.run_dir()).summary) for run in runs]
    assert view.summaries("smoke") == summaries
    assert [view.summary_pattern().format(**run.wildcards) for run in runs] == summaries
    first = SimpleNamespace(**{k: str(v) for k, v in runs[0].wildcards.items()})
    assert view.run(first) == runs[0]
    assert view.train_inputs(first) == ["data/synthetic/train.csv", "data/synthetic/val.csv"]
    assert view.deliverables("smoke") == [
        "tables/smoke/README.md", "figures/smoke/README.md", "results/smoke/report.html",
    ]  # fmt: skip
    assert re.fullmatch(view.data_roots(), "data/synthetic")


def test_train_jobs_go_in_blocks_of_one_seed(monkeypatch):
    """Snakemake starts the highest priority first: every variant's seed 0, then seed 1, ..."""
    monkeypatch.chdir(ROOT)
    view = workflow_view(_smoke_config(), [])
    runs = expand_runs(view.active)
    wildcards = {
        r.run_id: SimpleNamespace(**{k: str(v) for k, v in r.wildcards.items()}) for r in runs
    }
    by_priority = sorted(runs, key=lambda r: -view.train_priority(wildcards[r.run_id]))
    assert [r.seed for r in by_priority] == sorted(r.seed for r in runs)
    first_block = [r.run_id for r in by_priority if r.seed == 0]
    assert first_block == [r.run_id for r in runs if r.seed == 0]  # plan order within a seed
    assert len({view.train_priority(w) for w in wildcards.values()}) == len(runs)


def test_view_reads_the_active_and_the_smoke_plan(paper_workdir):
    raws = [read_config(f) for f in ("config/config.yaml", "config/paper.yaml")]
    view = workflow_view(merge_plan_files(raws), [paper_workdir / "config/paper.yaml"])
    assert (view.active.name, view.smoke.name) == ("paper", "smoke")
    assert view.plan_files("paper") == ["config/config.yaml", "config/paper.yaml"]
    assert view.plan_files("smoke") == ["config/config.yaml"]
    assert view.plan_command("paper") == (
        "python -m replication.workflow plan --plan config/config.yaml --plan config/paper.yaml"
    )
    assert len(view.summaries("paper")) == len(expand_runs(read_plan("config/paper.yaml")))
    assert list(view.generated) == ["data/synthetic"]  # the smoke plan's, for the smoke target


def test_view_refuses_a_config_its_files_do_not_make(monkeypatch):
    """A --config override would reach the DAG but not the plan rule, which reads the files."""
    monkeypatch.chdir(ROOT)
    with pytest.raises(PlanError, match="--configfile"):
        workflow_view({**_smoke_config(), "seeds": [0]}, [])


def test_fresh_clone_paper_dry_run_names_each_missing_piece_and_fails(tmp_path):
    """No data and no profile: one line per missing file, with what to do, before any job."""
    (tmp_path / "config").symlink_to(ROOT / "config")
    code, counts, text = _snakemake_dry_run(
        ("tables", "--configfile", "config/paper.yaml"), tmp_path
    )
    assert code != 0 and "train" not in counts
    plan = read_plan(ROOT / "config/config.yaml", ROOT / "config/paper.yaml")
    wanted = [
        f"{path}: no such annotation file (datasets.{key}.{field}): "
        for key, data in plan.datasets.items()
        if data.generate is None
        for field, path in (("train_annotations", data.train_annotations),
                            ("val_annotations", data.val_annotations))
    ] + [
        f"{data.video_root}: no such video folder (datasets.{key}.video_root)"
        for key, data in plan.datasets.items() if data.generate is None
    ] + [
        "slurm/default.yaml: no such SLURM profile; write one for your cluster: python -m "
        "replication slurm-profile --processes 8 --write slurm/default.yaml",
        "slurm/one-gpu.yaml: no such SLURM profile; write one for your cluster: python -m "
        "replication slurm-profile --processes 1 --write slurm/one-gpu.yaml",
    ]  # fmt: skip
    lines = text.splitlines()
    for piece in wanted:
        assert sum(line.startswith(piece) for line in lines) == 1, piece
    assert f"{len(wanted)} thing(s) missing before any run can start" in text


def test_a_profile_for_another_process_count_is_named_with_a_run(paper_workdir):
    (paper_workdir / "slurm/default.yaml").write_text(
        (paper_workdir / "slurm/one-gpu.yaml").read_text()
    )
    plan = read_plan("config/config.yaml", "config/paper.yaml")
    runs = [r for r in expand_runs(plan) if r.experiment == "k400_slowfast_r50"]
    problems = missing_pieces(plan, runs, ask_sinfo=False)
    assert problems == [
        "slurm/default.yaml: tasks_per_node: 1 node(s) x 1 task(s) = 1 training processes, but "
        "the config says train.num_gpus=8; make them equal (e.g. --set train.num_gpus=...) "
        "(runs such as k400_slowfast_r50/baseline-s0)"
    ]
