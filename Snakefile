# Workflow entry point: `snakemake tables` (see README.md).
# The training/collect/tables rules arrive with the workflow issue; until then the default
# target renders the schedule of every shipped config, so `snakemake -n` has a plan to show.
# Logic lives in the `replication` package; rules only call `python -m replication ...`.
from pathlib import Path

CONFIGS = sorted(str(p.with_suffix("")) for p in Path("config").glob("*/*.yaml"))


rule tables:
    input:
        expand("results/schedules/{cfg}.json", cfg=CONFIGS),
    default_target: True


rule schedule:
    input:
        "{cfg}.yaml",
    output:
        "results/schedules/{cfg}.json",
    log:
        "results/logs/schedule/{cfg}.log",
    shell:
        "python -m replication schedule {input} --json > {output}.tmp 2> {log} && mv {output}.tmp {output}"
