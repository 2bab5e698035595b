"""The GPU check: install from a wheelhouse, then tests, two trainings, tables, step times.

Standard library only: it runs with the node's own Python before our dependencies exist. Each
step is a subprocess with a time limit cut from one budget (8 minutes by default), printed as a
progress line; a step that fails or runs out of time is reported and the later steps that need
it are skipped, and whatever was made is still copied into ``--out``:

1. ``pip install --no-index --no-deps --target WORK/site`` of every wheel in the wheelhouse (the
   node's torch stays; the project is on ``PYTHONPATH``, not installed);
2. the environment: Python, torch, CUDA, the GPU (``env.json``);
3. ``pytest -m gpu tests/test_gpu.py``;
4. the single-GPU smoke plan's data, then its baseline and long + short, seed 0, with
   ``python -m replication train`` (no Snakemake, no submitit);
5. ``python -m replication.results collect`` and ``tables``;
6. step time per grid in fp32, bf16, fp16 and channels-last (``replication.bench.steps``).

``--cpu-smoke`` runs the same steps shrunk to seconds on a CPU, to test this script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLANS = ["config/config.yaml", "config/smoke_gpu.yaml"]
# (name, --set overrides) of the step-time comparison; fp32 contiguous is the reference.
ARITHMETIC = [
    ("fp32", ["train.precision=fp32", "train.memory_format=contiguous"]),
    ("fp32_channels_last", ["train.precision=fp32", "train.memory_format=channels_last_3d"]),
    ("bf16", ["train.precision=bf16", "train.memory_format=contiguous"]),
    ("bf16_channels_last", ["train.precision=bf16", "train.memory_format=channels_last_3d"]),
    ("fp16", ["train.precision=fp16", "train.memory_format=contiguous"]),
]
# --cpu-smoke's step-time comparison: a narrow network on small clips.
SHRINK_BENCH = ["model.width=8", "train.batch_size=8", "data.num_frames=8", "data.sampling_rate=4",
                "data.train_crop_size=32", "data.train_jitter_scales=[32, 40]"]  # fmt: skip
ENV_PROBE = """import json, platform, sys, torch
cuda = torch.cuda.is_available()
print(json.dumps({"python": sys.version.split()[0], "platform": platform.platform(),
    "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
    "cuda_available": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None,
    "gpu_count": torch.cuda.device_count()}))"""


class Check:
    """Runs steps against one deadline and keeps a log of what each did."""

    def __init__(self, out: Path, work: Path, budget_s: float, env: dict[str, str]) -> None:
        self.out, self.work, self.env = out, work, env
        self.start = time.monotonic()
        self.deadline = self.start + budget_s
        self.status: dict[str, str] = {}
        self.log = (out / "check.log").open("a")

    def say(self, text: str) -> None:
        """Print a progress line (seconds since the start) and log it."""
        line = f"[{time.monotonic() - self.start:6.0f} s] {text}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def run(self, name: str, command: list[str] | str, cap_s: float, log: str = "") -> bool:
        """Run one step; True when it exited 0 in time. Its output goes to ``OUT/logs/``."""
        left = self.deadline - time.monotonic()
        if left < 5:
            self.status[name] = "skipped: out of time"
            self.say(f"{name}: skipped, the budget is spent")
            return False
        limit = min(cap_s, left)
        path = self.out / "logs" / f"{log or name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"{name}: started (limit {limit:.0f} s)")
        began = time.monotonic()
        with path.open("w") as sink:
            try:
                code = subprocess.run(command, shell=isinstance(command, str), cwd=ROOT,
                                      env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                                      timeout=limit).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                code = None
        took = time.monotonic() - began
        self.status[name] = (
            "ok" if code == 0 else ("timed out" if code is None else f"failed (exit {code})")
        ) + f" in {took:.0f} s"
        self.say(f"{name}: {self.status[name]} (log: {path.relative_to(self.out)})")
        return code == 0

    def skip(self, name: str, why: str) -> None:
        """Record a step not run, and why."""
        self.status[name] = f"skipped: {why}"
        self.say(f"{name}: skipped ({why})")


def _environment(site: Path | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(site)] if site else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return env


def _install(check: Check, wheelhouse: Path, site: Path) -> bool:
    wheels = sorted(str(w.resolve()) for w in wheelhouse.glob("*.whl"))
    if not wheels:
        check.say(f"error: {wheelhouse}: no wheels (python -m replication.gpu wheelhouse)")
        check.status["install"] = "failed: empty wheelhouse"
        return False
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--upgrade",
               "--disable-pip-version-check", "--target", str(site), *wheels]  # fmt: skip
    return check.run("install", command, 180)


def run_check(args: argparse.Namespace) -> int:
    """The whole check (see the module docstring); 0 when every step passed."""
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = (args.work or out.parent / f"{out.name}-work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    site = None if args.no_install else work / "site"
    check = Check(out, work, args.budget_s, _environment(site))
    py = sys.executable
    check.say(f"GPU check: out {out}, work {work}, budget {args.budget_s:.0f} s"
              + (" (CPU smoke)" if args.cpu_smoke else ""))  # fmt: skip
    if site is not None and not _install(check, args.wheelhouse, site):
        return _finish(check, out, work, None)
    check.run("environment", [py, "-c", ENV_PROBE], 60)
    shutil.copy(out / "logs" / "environment.log", out / "env.json")
    test = [py, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", "-o", "addopts=",
            "tests/test_gpu.py", "-q", "-rs"]  # fmt: skip
    check.run("gpu tests", test, 150, "pytest_gpu")
    steps = _plan_steps(check, py, work, args.cpu_smoke)
    if steps is not None:
        _train_and_tabulate(check, py, steps, out, work)
    _bench(check, py, work, out, args.cpu_smoke)
    return _finish(check, out, work, steps)


def _plan_steps(check: Check, py: str, work: Path, shrink: bool) -> dict | None:
    command = [py, "-m", "replication.gpu.steps", *PLANS, "--root", str(work)]
    if not check.run("plan", command + (["--shrink"] if shrink else []), 60):
        return None
    text = (check.out / "logs" / "plan.log").read_text().strip().splitlines()
    return json.loads(text[-1])


def _train_and_tabulate(check: Check, py: str, steps: dict, out: Path, work: Path) -> None:
    data_ok = all(check.run(f"data {i}", cmd, 180, f"data_{i}") for i, cmd in
                  enumerate(steps["data"]))  # fmt: skip
    trained = []
    for run in steps["train"]:
        name = f"train {run['run']}"
        if not data_ok:
            check.skip(name, "no data")
        elif check.run(name, run["command"], 420, "train_" + run["run"].replace("/", "_")):
            trained.append(run)
    if len(trained) < len(steps["train"]):
        check.skip("collect", "a run did not finish")
        return
    results, tables = work / "results", work / "tables"
    collect = [py, "-m", "replication.results", "collect", "--plan", steps["plan_json"],
               "--runs", steps["runs_root"], "--out", str(results)]  # fmt: skip
    render = [py, "-m", "replication.results", "tables", "--plan", steps["plan_json"],
              "--results", str(results), "--out", str(tables)]  # fmt: skip
    if check.run("collect", collect, 60) and check.run("tables", render, 60):
        for folder in (results, tables):
            shutil.copytree(folder, out / folder.name, dirs_exist_ok=True)
    for run in trained:  # each run's small files: summary and event log
        target = out / "runs" / run["run"]
        target.mkdir(parents=True, exist_ok=True)
        for name in ("summary.json", "events.jsonl", "config.json"):
            if (Path(run["run_dir"]) / name).is_file():
                shutil.copy(Path(run["run_dir"]) / name, target / name)


def _bench(check: Check, py: str, work: Path, out: Path, shrink: bool) -> None:
    """Step time per grid of the GPU smoke multigrid and its baseline, per arithmetic."""
    for name, sets in ARITHMETIC:
        command = [py, "-m", "replication.bench.steps", "--config",
                   "config/smoke_gpu/multigrid.yaml", "--clips", "512",
                   "--out", str(out / "steps" / f"{name}.json")]  # fmt: skip
        if shrink:  # a narrow network on a few clips, one timed step per grid
            command += ["--clips", "64", "--repeats", "1", "--warmup", "0"]
            command += [word for item in SHRINK_BENCH for word in ("--set", item)]
        for item in sets:
            command += ["--set", item]
        check.run(f"step times {name}", command, 90, f"steps_{name}")
        if shrink:
            break  # the CPU trains in fp32 whatever is asked: one is enough to test the step


def _finish(check: Check, out: Path, work: Path, steps: dict | None) -> int:
    failed = [name for name, status in check.status.items() if not status.startswith("ok")]
    summary = {"status": check.status, "wall_s": round(time.monotonic() - check.start, 1)}
    (out / "check.json").write_text(json.dumps(summary, indent=1) + "\n")
    check.say(f"done: {len(check.status) - len(failed)} steps ok, {len(failed)} not"
              + (f" ({', '.join(failed)})" if failed else "") + f"; results in {out}")  # fmt: skip
    check.log.close()
    return 1 if failed else 0
