"""The experiment plan behind the Snakemake workflow: which runs to train and how.

A plan (``config/config.yaml``, ``config/paper.yaml``) lists data sets, experiments, variants and
seeds; this package validates it, expands it into runs with their commands, and estimates their
cost. The Snakefile's rules only call into it and into ``python -m replication ...``.
"""

from replication.workflow.plan import (
    BASELINE,
    Dataset,
    Experiment,
    Generate,
    Plan,
    PlanError,
    Run,
    Variant,
    config_hash,
    estimated_cost,
    expand_runs,
    generated_data,
    load_plan,
    print_plan,
    read_plan,
    skipped_variants,
    train_command,
)

__all__ = [
    "BASELINE",
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
