"""The experiment plan behind the Snakemake workflow: which runs to train and how."""
