"""What the Snakefile asks about the plans, answered by one object built once per ``snakemake``.

The Snakefile holds rules only; :func:`workflow_view` reads the active plan (Snakemake's
``config``: ``config/config.yaml`` with every ``--configfile`` laid over it) and the smoke plan
(``config/config.yaml`` alone, for the ``smoke`` target), and the rules' input, output and
params call the methods of the :class:`WorkflowView` it returns: the deliverables, the plan
files, the runs with their folders (:class:`replication.io.RunPaths`) and commands, and the
data sets to generate.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from replication.data.copies import MANIFEST
from replication.io.run_paths import RunPaths
from replication.workflow.commands import (
    copied_datasets,
    copies_command,
    copy_manifests,
    data_command,
    generated_data,
    generated_datasets,
    plan_command,
    train_command,
)
from replication.workflow.load import (
    DEFAULT_PLAN,
    load_plan,
    merge_plan_files,
    read_config,
    read_plan,
)
from replication.workflow.preflight import missing_pieces
from replication.workflow.records import Dataset, Generate, Plan, PlanError
from replication.workflow.runs import (
    RUN_ID,
    Run,
    expand_runs,
    run_dir_pattern,
    skipped_variants,
    training_order,
    with_sources,
)

RUNS_ROOT = "runs"
# The targets' files of a plan; the render rules' outputs with {plan} filled in.
DELIVERABLES = {
    "tables": "tables/{plan}/README.md",
    "figures": "figures/{plan}/README.md",
    "report": "results/{plan}/report.html",
}


class RunWildcards(Protocol):
    """The train rule's wildcards (Snakemake's ``wildcards`` object, or anything alike)."""

    plan: str
    experiment: str
    variant: str
    seed: str


@dataclass(frozen=True)
class WorkflowView:
    """The plans of one ``snakemake`` call: the active one and the smoke one (may be the same).

    Args:
        active: the plan the targets tables, figures and report build.
        smoke: the plan the target smoke builds.
        sources: per plan name, its files in the order they are laid over each other.
    """

    active: Plan
    smoke: Plan
    sources: Mapping[str, tuple[str, ...]]
    runs: Mapping[tuple[str, str], Run] = field(init=False, repr=False)
    generated: Mapping[str, Generate] = field(init=False, repr=False)
    copied: Mapping[str, Dataset] = field(init=False, repr=False)
    priorities: Mapping[tuple[str, str], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        plans = self.plans.values()
        runs = {(p.name, r.run_id): r for p in plans for r in expand_runs(p)}
        priorities = {}  # the train rule's, highest first in training_order, per plan
        for p in plans:
            ordered = training_order([r for (name, _), r in runs.items() if name == p.name])
            priorities.update({(p.name, r.run_id): len(ordered) - i for i, r in enumerate(ordered)})
        generated = {root: gen for p in plans for root, gen in generated_datasets(p).items()}
        copied = {path: data for p in plans for path, data in copied_datasets(p).items()}
        object.__setattr__(self, "runs", runs)
        object.__setattr__(self, "priorities", priorities)
        object.__setattr__(self, "copied", copied)
        object.__setattr__(self, "generated", generated)

    @property
    def plans(self) -> dict[str, Plan]:
        """Both plans by name (the active one wins where both have one name)."""
        return {self.smoke.name: self.smoke, self.active.name: self.active}

    def deliverable(self, kind: str, plan: str | None = None) -> str:
        """The file of target ``kind`` (tables, figures, report) of ``plan`` (the active one)."""
        return DELIVERABLES[kind].format(plan=plan or self.active.name)

    def deliverables(self, plan: str) -> list[str]:
        """Every target's file of ``plan``."""
        return [self.deliverable(kind, plan) for kind in DELIVERABLES]

    def plan_files(self, plan: str) -> list[str]:
        """The files ``plan`` is made of (the plan rule's input), once the plan is ready to run.

        Asked while Snakemake builds the job graph, so only for plans the targets need, and
        before any job starts (``snakemake -n`` included).

        Raises:
            PlanError: one line per missing piece (:mod:`replication.workflow.preflight`).
        """
        problems = missing_pieces(self.plans[plan], self.selected_runs(plan))
        if problems:
            raise PlanError(
                f"{' + '.join(self.sources[plan])}: {len(problems)} thing(s) missing before "
                "any run can start:\n" + "\n".join(problems)
            )
        return list(self.sources[plan])

    def plan_command(self, plan: str) -> str:
        """The command that checks ``plan`` from its files; the rule adds ``--write OUT``."""
        return plan_command(self.sources[plan], self.plans[plan].select)

    def selected_runs(self, plan: str) -> list[Run]:
        """The runs of ``plan`` the workflow trains: its selected experiments' and their sources'.

        A selected fine-tune needs the run it starts from, so that run is trained (and checked
        before any job) even when its experiment is not selected.
        """
        chosen = self.plans[plan]
        every = [run for (name, _), run in self.runs.items() if name == plan]
        return with_sources([run for run in every if chosen.selected(run.experiment)], every)

    def summaries(self, plan: str) -> list[str]:
        """Each trained run's completion marker (``summary.json``) of ``plan``, in plan order."""
        return [str(RunPaths(run.run_dir(RUNS_ROOT)).summary) for run in self.selected_runs(plan)]

    @staticmethod
    def summary_pattern() -> str:
        """The train rule's output: any run's ``summary.json``, with the run's wildcards."""
        return str(RunPaths(run_dir_pattern(RUNS_ROOT)).summary)

    def run(self, w: RunWildcards) -> Run:
        """The run the train rule's wildcards name."""
        run_id = RUN_ID.format(experiment=w.experiment, variant=w.variant, seed=w.seed)
        return self.runs[(w.plan, run_id)]

    def train_inputs(self, w: RunWildcards) -> list[str]:
        """Files the run needs before it starts.

        A generated data set's annotations, the manifests of the data set's copies and, for a
        fine-tune, its source's ``summary.json`` (so the source trains first, and a newer
        source retrains the fine-tune).
        """
        run = self.run(w)
        plan = self.plans[w.plan]
        needs = generated_data(plan, run.dataset) + copy_manifests(plan, run.dataset)
        if run.init_from is not None:
            source = self.runs[(w.plan, run.init_from)]
            needs.append(str(RunPaths(source.run_dir(RUNS_ROOT)).summary))
        return needs

    def train_priority(self, w: RunWildcards) -> int:
        """The train job's Snakemake priority: higher first, in :func:`training_order`."""
        return self.priorities[(w.plan, self.run(w).run_id)]

    def train_command(self, w: RunWildcards) -> str:
        """The command that trains the run (and returns when it has finished)."""
        return train_command(self.plans[w.plan], self.run(w), RUNS_ROOT)

    def data_roots(self) -> str:
        """A regex of the folders of generated data sets (the data rule's ``{root}``)."""
        return "|".join(re.escape(root) for root in self.generated) or "(?!)"

    def data_command(self, root: str) -> str:
        """The command that generates the data set in ``root``."""
        return data_command(root, self.generated[root])

    def copy_folders(self) -> str:
        """A regex of the folders whose videos get copies (the copies rule's ``{folder}``)."""
        folders = {str(Path(path).parent.parent) for path in self.copied}
        return "|".join(re.escape(folder) for folder in sorted(folders)) or "(?!)"

    def copies_input(self, folder: str, side: str) -> str:
        """The training annotations the copies in ``folder`` at ``side`` are written from."""
        return self.copied[_manifest(folder, side)].train_annotations

    def copies_command(self, folder: str, side: str) -> str:
        """The command that writes the copies in ``folder`` at short side ``side``."""
        return copies_command(self.copied[_manifest(folder, side)], int(side))


def _manifest(folder: str, side: str) -> str:
    return str(Path(folder) / f"short{side}" / MANIFEST)


def _shown(path: Path | str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _command_line_selection(
    config: dict[str, Any], from_files: Mapping[str, Any]
) -> dict[str, Any]:
    """``--config experiments=[ID,...]`` (ids, not records) as the plan key ``select``.

    Puts the files' experiments back into ``config`` and returns ``{"select": ids}``, or ``{}``
    when the experiments are the files' own.
    """
    chosen = config.get("experiments")
    if isinstance(chosen, str):
        chosen = [chosen]
    if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
        return {}
    config["experiments"] = from_files.get("experiments")
    return {"select": chosen}


def workflow_view(config: Mapping[str, Any], configfiles: Iterable[Path | str]) -> WorkflowView:
    """The Snakefile's view of its plans: Snakemake's ``config`` and ``--configfile`` files.

    Args:
        config: Snakemake's ``config``, ``config/config.yaml`` with ``configfiles`` over it.
        configfiles: ``workflow.overwrite_configfiles``, in command-line order.

    Raises:
        PlanError: a plan is invalid, or ``config`` is not what its files make (a ``--config``
            override, which the plan rule could not see: put it in a ``--configfile``).
    """
    extra = [_shown(path) for path in configfiles]
    files = (DEFAULT_PLAN, *extra)
    source = " + ".join(files)
    from_files = merge_plan_files([read_config(path) for path in files])
    config = dict(config)
    select = _command_line_selection(config, from_files)
    if from_files != config:
        raise PlanError(
            f"{source}: the config differs from its files (a --config override other than "
            "experiments=[ID,...]?); put plan changes into a file given with --configfile"
        )
    active = load_plan({**config, **select}, source=source)
    smoke = read_plan(DEFAULT_PLAN) if extra else active
    sources = {smoke.name: (DEFAULT_PLAN,), active.name: files}
    for skipped in skipped_variants(active):
        print(
            f"note: {skipped} skipped: its config key does not exist in this version",
            file=sys.stderr,
        )
    return WorkflowView(active=active, smoke=smoke, sources=sources)
