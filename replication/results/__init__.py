"""From training runs to the paper's tables, figures and report (the Snakemake workflow's logic).

``plan`` expands the workflow config into runs, ``collect`` turns their event logs into tidy CSVs,
``tables``, ``figures`` and ``report`` render those. ``python -m replication.results -h`` lists
the commands the Snakefile calls.
"""
