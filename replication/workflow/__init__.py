"""The experiment plan behind the Snakemake workflow: which runs to train and how.

A plan (``config/config.yaml``, ``config/paper.yaml``) lists data sets, experiments, variants and
seeds; this package validates it, expands it into runs with their commands, and estimates their
cost. Modules, by job:

- ``records``: the plan's pydantic records (the one definition of its keys and their meaning);
- ``load``: plan files merged as Snakemake merges configfiles, validated run by run;
- ``runs``: the runs of a plan, budget-matched baselines included, and their folders;
- ``commands``: the shell commands of the jobs (train, generate data, save the plan);
- ``cost``: the estimated compute of each run;
- ``schema``: ``config/workflow.schema.json``, generated from the records;
- ``snakefile``: the one object the Snakefile's rules ask (:func:`workflow_view`);
- ``cli``: ``python -m replication.workflow plan|schema``.
"""

from replication.workflow.commands import generated_data, train_command
from replication.workflow.cost import estimated_cost, print_plan
from replication.workflow.load import load_plan, read_plan
from replication.workflow.records import (
    BASELINE,
    CURVED_GROUPS,
    Dataset,
    Experiment,
    Generate,
    Plan,
    PlanError,
    Variant,
)
from replication.workflow.runs import Run, config_hash, expand_runs, skipped_variants

__all__ = [
    "BASELINE",
    "CURVED_GROUPS",
    "Dataset",
    "Experiment",
    "Generate",
    "Plan",
    "PlanError",
    "Run",
    "Variant",
    "config_hash",
    "estimated_cost",
    "expand_runs",
    "generated_data",
    "load_plan",
    "print_plan",
    "read_plan",
    "skipped_variants",
    "train_command",
]
