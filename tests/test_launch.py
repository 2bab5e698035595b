"""The launcher without a SLURM cluster: debug (in process) and local (subprocess) executors, and
every refusal that must happen before anything is submitted.

The runs are the conftest's tiny CPU trainings on its generated colour videos (seconds each).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from shared import ROOT, TEST_MULTIGRID

from replication.cli import main
from replication.cluster import gpus
from replication.cluster.gpus import local_gpus
from replication.cluster.jobs import make_executor
from replication.cluster.profile import SlurmProfile
from replication.config import RunConfig
from replication.io import events as ev


def config_file(cfg: RunConfig, path) -> str:
    """The resolved config as a YAML file the CLI can read."""
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return str(path)


def profile_file(tmp_path, text: str, name: str = "profile.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def losses(run_dir) -> list[float]:
    return [e["loss"] for e in ev.read_events(run_dir / "events.jsonl") if e["event"] == ev.TRAIN]


def test_debug_launch_trains_once_then_reports_the_stored_run(tiny_config, tmp_path, capsys):
    cfg = config_file(tiny_config(), tmp_path / "exp.yaml")
    run = tmp_path / "run"
    # One core, as every test training: two torch threads on two busy cores crawl.
    one_core = ["--slurm", profile_file(tmp_path, "cpus_per_task: 1\n")]
    assert main(["launch", cfg, "--run-dir", str(run), "--cluster", "debug", *one_core]) == 0
    out, err = capsys.readouterr()
    summary = json.loads((run / "summary.json").read_text())
    assert out.splitlines() == [json.dumps(summary["metrics"])]
    assert "launch: submitted job DEBUG_" in err
    assert summary["metrics"]["videos"] == 12
    jobs = sorted(p.name for p in (run / "submitit").iterdir())

    assert main(["launch", cfg, "--run-dir", str(run), "--cluster", "debug", *one_core]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [json.dumps(summary["metrics"])]
    assert "holds a finished run; nothing submitted" in err
    assert sorted(p.name for p in (run / "submitit").iterdir()) == jobs  # no second job


def test_local_executor_trains_like_the_debug_one(tiny_config, tmp_path):
    """The command Snakemake runs, in a subprocess; a local job with one core per task trains
    exactly as an in-process one with one core does (same losses, same metrics)."""
    cfg = config_file(tiny_config(), tmp_path / "exp.yaml")
    profile = profile_file(tmp_path, "cpus_per_task: 1\ntimeout_min: 10\nsignal_delay_s: 30\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "replication", "launch", cfg, "--slurm", profile]
    local = subprocess.run(
        [*command, "--run-dir", str(tmp_path / "local"), "--cluster", "local"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert local.returncode == 0, local.stderr
    assert "launch: submitted job" in local.stderr and "_log.err" in local.stderr

    assert main(["launch", cfg, "--slurm", profile, "--run-dir", str(tmp_path / "debug"),
                 "--cluster", "debug"]) == 0  # fmt: skip
    debug = json.loads((tmp_path / "debug" / "summary.json").read_text())
    assert local.stdout.splitlines() == [json.dumps(debug["metrics"])]
    assert losses(tmp_path / "local") == losses(tmp_path / "debug")


def test_failing_job_exits_1_with_one_line_and_the_log(tiny_config, tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    cfg = tiny_config(f"data.train_annotations={missing}")
    code = main(["launch", config_file(cfg, tmp_path / "exp.yaml"), "--run-dir",
                 str(tmp_path / "run"), "--cluster", "debug"])  # fmt: skip
    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: job DEBUG_")
    assert str(missing) in errors[0] and "(log: " in errors[0]


@pytest.mark.parametrize(
    ("profile", "cluster", "message"),
    [
        (
            "cpus_per_tasks: 1\n",
            "local",
            "cpus_per_tasks: unknown key (did you mean cpus_per_task?)",
        ),
        ("tasks_per_node: 2\n", "local", "tasks_per_node: 1 node(s) x 2 task(s) = 2 training"),
        ("nodes: 2\n", "local", "tasks_per_node: 2 node(s) x 1 task(s) = 2"),
        ("cpus_per_task: 100000\n", "local", "cpus_per_task: 1 task(s) x 100000 CPUs, but this"),
    ],
)
def test_bad_profile_fails_before_submission(tmp_path, capsys, profile, cluster, message):
    path = profile_file(tmp_path, profile)
    run = tmp_path / "run"
    code = main(["launch", str(TEST_MULTIGRID), "--run-dir", str(run),
                 "--cluster", cluster, "--slurm", path])  # fmt: skip
    assert code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {path}: {message}")
    assert len(err.splitlines()) == 1
    assert not run.exists()  # nothing submitted, nothing written


def test_debug_cluster_refuses_several_tasks(tmp_path, capsys):
    path = profile_file(tmp_path, "tasks_per_node: 2\n")
    code = main(["launch", str(TEST_MULTIGRID), "--run-dir",
                 str(tmp_path / "run"), "--cluster", "debug", "--slurm", path,
                 "--set", "train.num_gpus=2"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {path}: tasks_per_node: the debug cluster runs one task in this process\n"
    )


def test_run_folder_of_another_config_is_refused(tmp_path, capsys):
    config = str(TEST_MULTIGRID)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(RunConfig().to_dict()))
    assert main(["launch", config, "--run-dir", str(run), "--cluster", "debug"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}: ") and "use another --run-dir" in err
    assert len(err.splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_bad_config_key_fails_like_every_command(tmp_path, capsys):
    config = str(TEST_MULTIGRID)
    code = main(["launch", config, "--run-dir", str(tmp_path / "r"), "--cluster", "debug",
                 "--set", "train.num_gpu=2"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        "error: --set: train.num_gpu: unknown key (did you mean train.num_gpus?)\n"
    )


def test_unknown_cluster_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["launch", "x.yaml", "--run-dir", str(tmp_path), "--cluster", "aws"])
    assert exit_.value.code == 2
    assert "invalid choice: 'aws'" in capsys.readouterr().err


# --------------------------------------------------------------------------- local GPUs


@pytest.mark.parametrize(
    ("visible", "profile", "expected"),
    [
        ("0,1", {}, ((0,), None)),  # default profile: one process, the first GPU
        ("2,3", {"tasks_per_node": 2}, ((2, 3), None)),
        ("", {}, ((), None)),
        ("-1", {}, ((), None)),
        ("GPU-8a1c,GPU-77f0", {}, ((), "GPU-8a1c")),  # UUIDs: a set-up line, not submitit's
        ("0,1", {"gpus_per_node": 0}, ((), None)),  # a profile that says CPU gets the CPU
        ("5", {"gpus_per_node": 1, "tasks_per_node": 1}, ((5,), None)),
        ("", {"gpus_per_node": 2, "tasks_per_node": 2}, ((0, 1), None)),  # trusted, as submitit
    ],
)
def test_local_job_gpus_follow_the_hardware_unless_the_profile_says(
    monkeypatch, visible, profile, expected
):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert local_gpus(SlurmProfile(**profile)) == expected


def test_machine_gpus_without_the_variable_asks_torch_then_nvidia_smi(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake_torch = SimpleNamespace(cuda=SimpleNamespace(device_count=lambda: 3))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    assert gpus.machine_gpus() == ["0", "1", "2"]
    monkeypatch.delitem(sys.modules, "torch")
    listing = "GPU 0: NVIDIA H200 (UUID: GPU-1)\nGPU 1: NVIDIA H200 (UUID: GPU-2)\n"
    monkeypatch.setattr(gpus.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(
        gpus.subprocess, "run", lambda *args, **kwargs: SimpleNamespace(stdout=listing)
    )
    assert gpus.machine_gpus() == ["0", "1"]
    assert local_gpus(SlurmProfile()) == ((0,), None)


@pytest.mark.parametrize(
    ("visible", "profile", "seen"),
    [("3,4", {}, "3"), ("GPU-8a1c", {}, "GPU-8a1c"), ("3", {"gpus_per_node": 0}, "")],
)
def test_local_executor_job_sees_the_gpus_chosen(tmp_path, monkeypatch, visible, profile, seen):
    """A real local job (a subprocess) reports the CUDA_VISIBLE_DEVICES it was started with."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    executor = make_executor("local", tmp_path, SlurmProfile(**profile), "gpus")
    job = executor.submit(functools.partial(os.getenv, "CUDA_VISIBLE_DEVICES"))
    assert job.result() == seen
