"""From training runs to the paper's tables, figures and report (the Snakemake workflow's logic).

``collect`` turns the event logs of a plan's runs (see :mod:`replication.workflow`) into tidy
CSVs; ``tables``, ``figures`` and ``report`` render those. The results side never imports the
training engine: it reads run folders through :mod:`replication.io`.
``python -m replication.results -h`` lists the commands the Snakefile calls.
"""
