# The workflow: `snakemake tables` trains every run of the experiment plan, collects the event
# logs and regenerates the tables (README.md, "The workflow"). config/config.yaml is the default
# plan (the CPU smoke replication); `--configfile config/paper.yaml` runs the paper's.
# Targets: tables (default), figures, report, smoke (the smoke plan, whatever the config).
# Rules only: what they ask about the plans comes from `view` (replication/workflow/snakefile.py),
# and every job is a `python -m ...` command.
from replication.workflow.snakefile import DEFAULT_PLAN, workflow_view


configfile: DEFAULT_PLAN


view = workflow_view(config, workflow.overwrite_configfiles)


wildcard_constraints:
    plan=r"[a-z0-9][a-z0-9_]*",
    experiment=r"[a-z0-9][a-z0-9_]*",
    variant=r"[a-z0-9][a-z0-9_]*",
    seed=r"\d+",


rule tables:
    input:
        view.deliverable("tables"),
    default_target: True


rule figures:
    input:
        view.deliverable("figures"),


rule report:
    input:
        view.deliverable("report"),


rule smoke:
    input:
        view.deliverables(view.smoke.name),


rule plan:
    input:
        lambda w: view.plan_files(w.plan),
    output:
        "results/{plan}/plan.json",
    log:
        "logs/{plan}/plan.log",
    params:
        command=lambda w: view.plan_command(w.plan),
    conda:
        "environment.yml"
    shell:
        "{params.command} --write {output} 2> {log}"


rule synthetic_data:
    output:
        "{root}/train.csv",
        "{root}/val.csv",
    log:
        "logs/data/{root}.log",
    params:
        command=lambda w: view.data_command(w.root),
    wildcard_constraints:
        root=view.data_roots(),
    conda:
        "environment.yml"
    shell:
        "{params.command} > {log} 2>&1"


rule video_copies:
    input:
        lambda w: view.copies_input(w.folder, w.side),
    output:
        "{folder}/short{side}/manifest.json",
    log:
        "logs/data/{folder}/short{side}.log",
    params:
        command=lambda w: view.copies_command(w.folder, w.side),
    wildcard_constraints:
        folder=view.copy_folders(),
        side=r"\d+",
    conda:
        "environment.yml"
    shell:
        "{params.command} > {log} 2>&1"


rule train:
    input:
        lambda w: view.train_inputs(w),
    output:
        view.summary_pattern(),
    log:
        "logs/{plan}/train/{experiment}/{variant}-s{seed}.log",
    params:
        command=lambda w: view.train_command(w),
    resources:
        train_slot=1,
    # One block of every variant per seed, so the machine's drift falls on all variants alike.
    priority: lambda w: view.train_priority(w)
    conda:
        "environment.yml"
    shell:
        "{params.command} > {log} 2>&1"


rule collect:
    input:
        plan="results/{plan}/plan.json",
        runs=lambda w: view.summaries(w.plan),
    output:
        expand("results/{{plan}}/{table}.csv", table=("runs", "evals", "epochs", "grids")),
    log:
        "logs/{plan}/collect.log",
    conda:
        "environment.yml"
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
    conda:
        "environment.yml"
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
    conda:
        "environment.yml"
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
    conda:
        "environment.yml"
    shell:
        "python -m replication.results report --plan {input.plan} --results results/{wildcards.plan} "
        "--figures figures/{wildcards.plan} --out {output} 2> {log}"
