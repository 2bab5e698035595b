"""The shell commands of the workflow's jobs: train a run, make data or its copies, save a plan.

The Snakefile's rules run these strings as they are; building them here keeps every flag next
to the code that parses it (and testable without Snakemake).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from replication.data.copies import MANIFEST, copies_root
from replication.data.synthetic.cli import command_line
from replication.workflow.records import Dataset, Generate, Plan
from replication.workflow.runs import Run

MODULE = "replication.workflow"  # python -m MODULE: the workflow CLI


def train_command(plan: Plan, run: Run, runs_root: Path | str = "runs") -> str:
    """The shell command that trains ``run`` and returns only when it has finished.

    ``cluster: none`` trains in this process with ``plan.trainer``; any other cluster goes
    through ``plan.launcher`` (submitit), which blocks until the job ends.
    """
    sets = " ".join(f"--set {shlex.quote(s)}" for s in run.overrides)
    run_dir = shlex.quote(str(run.run_dir(runs_root)))
    if plan.cluster == "none":
        return f"{plan.trainer} {shlex.quote(run.config)} --run-dir {run_dir} --quiet {sets}"
    profile = plan.slurm_profile if run.slurm_profile is None else run.slurm_profile
    slurm = f" --slurm {shlex.quote(profile)}" if profile else ""
    return (
        f"{plan.launcher} {shlex.quote(run.config)} --run-dir {run_dir} "
        f"--cluster {plan.cluster}{slurm} {sets}"
    )


def generated_data(plan: Plan, dataset: str) -> list[str]:
    """Annotation files a rule must make before runs on ``dataset`` start ([] for user data)."""
    data = plan.datasets[dataset]
    return [data.train_annotations, data.val_annotations] if data.generate else []


def generated_datasets(plan: Plan) -> dict[str, Generate]:
    """The folder of each data set the workflow generates, with its generator parameters."""
    return {
        str(Path(data.train_annotations).parent): data.generate
        for data in plan.datasets.values()
        if data.generate is not None
    }


def copy_manifests(plan: Plan, dataset: str) -> list[str]:
    """The store manifests a rule must write before runs on ``dataset`` start ([]: no copies)."""
    data = plan.datasets[dataset]
    root = copies_root(Path(data.train_annotations))
    return [str(root / f"short{side}" / MANIFEST) for side in data.copies]


def copied_datasets(plan: Plan) -> dict[str, Dataset]:
    """Each store manifest the workflow writes, with the data set whose videos it copies."""
    return {path: data for key, data in plan.datasets.items() for path in copy_manifests(plan, key)}


def copies_command(data: Dataset, short_side: int) -> str:
    """The command that writes the copies of ``data``'s training videos at ``short_side``."""
    words = ["python", "-m", "replication.data.copies", data.train_annotations,
             "--short-side", str(short_side)]  # fmt: skip
    if data.format is not None:
        words += ["--format", data.format]
    if data.video_root is not None:
        words += ["--video-root", data.video_root]
    return shlex.join(words)


def data_command(root: str, params: Generate) -> str:
    """The command that generates the data set ``params`` in ``root``.

    With ``--force``: new parameters replace the generator's own older data set there (never a
    folder it did not write).
    """
    return command_line(root, params, force=True)


def plan_command(files: Sequence[Path | str], select: Sequence[str] = ()) -> str:
    """The command that checks the plan made of ``files`` (merged in order) and saves it.

    ``select``: experiment ids that replace the files' own selection (``--config
    experiments=[...]``), so the saved plan says which experiments were meant to run.
    """
    plans = [word for path in files for word in ("--plan", str(path))]
    chosen = [word for name in select for word in ("--select", name)]
    return shlex.join(["python", "-m", MODULE, "plan", *plans, *chosen])
