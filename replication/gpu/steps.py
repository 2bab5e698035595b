"""The check's plan, in the installed environment: which data to make and which runs to train.

``python -m replication.gpu.steps PLAN... --variants baseline,long_short --root WORK [--shrink]``
reads the plan files as the workflow does, keeps the named variants and seed 0, moves data and
runs under WORK, writes ``WORK/plan.yaml`` and ``WORK/results/plan.json`` (what collect and
tables read) and prints, as JSON, the data commands and the train commands (``python -m
replication train``: no Snakemake, no submitit). ``--shrink`` makes every run seconds long on a
CPU (the check's ``--cpu-smoke``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from replication.workflow.commands import data_command, generated_datasets, train_command
from replication.workflow.load import merge_plan_files, read_config, read_plan
from replication.workflow.runs import expand_runs

# Every run a few iterations long on a CPU: a narrow network, 2 epochs, tiny data.
SHRINK_SETS = ["model.width=8", "train.batch_size=4", "solver.max_epoch=2",
               "solver.steps=[0, 1]", "solver.lrs=[1, 0.1]", "solver.warmup_epochs=0",
               "train.eval_period=1", "train.checkpoint_period=1", "train.precise_bn_batches=2",
               "multigrid.bn_base_size=4", "data.num_workers=0", "data.num_frames=8",
               "data.sampling_rate=4", "data.train_crop_size=32", "data.test_crop_size=32",
               "data.train_jitter_scales=[32, 40]"]  # fmt: skip
SHRINK_DATA = {"train_per_class": 2, "val_per_class": 1}


def check_plan(files: Sequence[str], variants: Sequence[str], root: Path, shrink: bool) -> dict:
    """Write the check's plan under ``root``; returns its data and train commands."""
    raw = merge_plan_files([read_config(f) for f in files])
    raw["seeds"] = [0]
    for exp in raw["experiments"]:
        exp["variants"] = [v for v in exp["variants"] if v["name"] in variants]
        exp.pop("budget_fractions", None)
        for v in exp["variants"]:
            v.pop("seeds", None)
        if shrink:
            exp["set"] = [*exp.get("set", []), *SHRINK_SETS]
    used = {exp["dataset"] for exp in raw["experiments"]}
    raw["datasets"] = {k: v for k, v in raw["datasets"].items() if k in used}
    for name, data in raw["datasets"].items():
        for key in ("train_annotations", "val_annotations"):
            data[key] = str(root / "data" / name / Path(data[key]).name)
        if shrink and data.get("generate"):
            data["generate"] = {**data["generate"], **SHRINK_DATA}
    plan_file = root / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    plan = read_plan(plan_file).model_copy(update={"cluster": "none"})
    plan_json = root / "results" / "plan.json"
    plan_json.parent.mkdir(parents=True, exist_ok=True)
    plan_json.write_text(plan.model_dump_json(indent=1) + "\n")
    runs_root = root / "runs"
    return {
        "plan_file": str(plan_file),
        "plan_json": str(plan_json),
        "runs_root": str(runs_root),
        "data": [_this_python(data_command(r, p)) for r, p in generated_datasets(plan).items()],
        "train": [
            {
                "run": f"{run.experiment}/{run.variant}-s{run.seed}",
                "run_dir": str(run.run_dir(runs_root)),
                "command": _this_python(train_command(plan, run, runs_root)),
            }
            for run in expand_runs(plan)
        ],
    }


def _this_python(command: str) -> str:
    """``command`` run by this interpreter, not whichever ``python`` the node's PATH finds."""
    head, _, rest = command.partition(" ")
    return f"{shlex.quote(sys.executable)} {rest}" if head in ("python", "python3") else command


def main(argv: Sequence[str] | None = None) -> int:
    """Print the check's commands as JSON; exit 2 with one line on a bad plan."""
    parser = argparse.ArgumentParser(prog="python -m replication.gpu.steps", description=__doc__)
    parser.add_argument("plans", nargs="+", help="plan files, merged in order")
    parser.add_argument("--variants", default="baseline,long_short")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--shrink", action="store_true")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    try:
        steps = check_plan(args.plans, args.variants.split(","), args.root.resolve(), args.shrink)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {' '.join(map(shlex.quote, args.plans))}: {err}", file=sys.stderr)
        return 2
    print(json.dumps(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
