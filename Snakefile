# The workflow: `snakemake tables` trains every run of the experiment plan, collects the event
# logs and regenerates the tables (README.md, "The workflow"). config/config.yaml is the default
# plan (the CPU smoke replication); `--configfile config/paper.yaml` runs the paper's.
# Targets: tables (default), figures, report, smoke (the smoke plan, whatever the config).
# Logic lives in replication.results; rules only call `python -m ...`.
import re
from pathlib import Path

from snakemake.utils import validate

from replication import workflow as P

configfile: "config/config.yaml"
validate(config, "config/workflow.schema.json")

SMOKE_FILE = "config/config.yaml"
EXTRA_FILES = [str(path) for path in workflow.overwrite_configfiles]
ACTIVE = P.load_plan(config, source=" + ".join([SMOKE_FILE, *EXTRA_FILES]))
SMOKE = ACTIVE if not EXTRA_FILES else P.read_plan(SMOKE_FILE)
PLANS = {SMOKE.name: SMOKE, ACTIVE.name: ACTIVE}
SOURCES = {SMOKE.name: [SMOKE_FILE], ACTIVE.name: [SMOKE_FILE, *EXTRA_FILES]}
RUNS = {(p.name, r.run_id): r for p in PLANS.values() for r in P.expand_runs(p)}
GENERATED = {
    str(Path(d.train_annotations).parent): d.generate
    for p in PLANS.values() for d in p.datasets.values() if d.generate
}
for skipped in P.skipped_variants(ACTIVE):
    print(f"note: {skipped} skipped: its config key does not exist in this version")


def deliverables(name):
    return [f"tables/{name}/README.md", f"figures/{name}/README.md", f"results/{name}/report.html"]


def summaries(w):
    return [f"runs/{w.plan}/{r.run_id}/summary.json" for r in P.expand_runs(PLANS[w.plan])]


def run_of(w):
    return RUNS[(w.plan, f"{w.experiment}/{w.variant}-s{w.seed}")]


wildcard_constraints:
    plan=r"[a-z0-9][a-z0-9_]*",
    experiment=r"[a-z0-9][a-z0-9_]*",
    variant=r"[a-z0-9][a-z0-9_]*",
    seed=r"\d+",


rule tables:
    input:
        f"tables/{ACTIVE.name}/README.md",
    default_target: True


rule figures:
    input:
        f"figures/{ACTIVE.name}/README.md",


rule report:
    input:
        f"results/{ACTIVE.name}/report.html",


rule smoke:
    input:
        deliverables(SMOKE.name),


rule plan:
    input:
        lambda w: SOURCES[w.plan],
    output:
        "results/{plan}/plan.json",
    log:
        "logs/{plan}/plan.log",
    params:
        plan=lambda w: PLANS[w.plan].model_dump_json(),
    shell:
        "python -m replication.results plan --plan-json {params.plan:q} --write {output} 2> {log}"


rule synthetic_data:
    output:
        "{root}/train.csv",
        "{root}/val.csv",
    log:
        "logs/data/{root}.log",
    params:
        sizes=lambda w: (
            f"--train-per-class {GENERATED[w.root].train_per_class} "
            f"--val-per-class {GENERATED[w.root].val_per_class} "
            f"--texture-px {GENERATED[w.root].texture_px} "
            f"--distractor-pct {GENERATED[w.root].distractor_pct} "
            f"--object-pct {GENERATED[w.root].object_pct} "
            f"--motions {GENERATED[w.root].motions}"
        ),
    wildcard_constraints:
        root="|".join(re.escape(root) for root in GENERATED) or "(?!)",
    shell:
        # --force: new parameters replace the generator's own older data set there
        "python -m replication.data.synthetic --out {wildcards.root} {params.sizes} --force "
        "> {log} 2>&1"


rule train:
    input:
        lambda w: P.generated_data(PLANS[w.plan], run_of(w).dataset),
    output:
        "runs/{plan}/{experiment}/{variant}-s{seed}/summary.json",
    log:
        "logs/{plan}/train/{experiment}/{variant}-s{seed}.log",
    params:
        command=lambda w: P.train_command(PLANS[w.plan], run_of(w)),
    resources:
        train_slot=1,
    shell:
        "{params.command} > {log} 2>&1"


rule collect:
    input:
        plan="results/{plan}/plan.json",
        runs=summaries,
    output:
        expand("results/{{plan}}/{table}.csv", table=("runs", "evals", "epochs", "grids")),
    log:
        "logs/{plan}/collect.log",
    shell:
        "python -m replication.results collect --plan {input.plan} --runs runs "
        "--out results/{wildcards.plan} 2> {log}"


rule render_tables:
    input:
        plan="results/{plan}/plan.json",
        runs="results/{plan}/runs.csv",
    output:
        "tables/{plan}/README.md",
    log:
        "logs/{plan}/tables.log",
    shell:
        "python -m replication.results tables --plan {input.plan} --results results/{wildcards.plan} "
        "--out tables/{wildcards.plan} 2> {log}"


rule render_figures:
    input:
        plan="results/{plan}/plan.json",
        runs="results/{plan}/runs.csv",
    output:
        "figures/{plan}/README.md",
    log:
        "logs/{plan}/figures.log",
    shell:
        "python -m replication.results figures --plan {input.plan} --results results/{wildcards.plan} "
        "--out figures/{wildcards.plan} 2> {log}"


rule render_report:
    input:
        plan="results/{plan}/plan.json",
        runs="results/{plan}/runs.csv",
        figures="figures/{plan}/README.md",
    output:
        "results/{plan}/report.html",
    log:
        "logs/{plan}/report.log",
    shell:
        "python -m replication.results report --plan {input.plan} --results results/{wildcards.plan} "
        "--figures figures/{wildcards.plan} --out {output} 2> {log}"
