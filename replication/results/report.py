"""One self-contained HTML report: every table and figure of a plan, with captions.

The only module that imports Jinja2. Figures are embedded as base64 PNGs and tables are rebuilt
from the same code and CSVs as ``tables/``, so the report needs no other file to be read, mailed
or archived, and cannot disagree with the tables.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import jinja2
import markupsafe

from replication.io.atomic import atomic_write_text
from replication.results.formats import to_html
from replication.results.tables import Results, build_tables
from replication.workflow import Plan, skipped_variants

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Multigrid replication: plan {{ plan.name }}</title>
<style>
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
caption { caption-side: top; text-align: left; padding-bottom: 0.4em; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; }
thead th { border-bottom: 2px solid #333; }
.left { text-align: left; } .right { text-align: right; }
figure { margin: 2em 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; }
.notes { font-size: 0.85em; }
</style>
</head>
<body>
<h1>Multigrid replication: plan <code>{{ plan.name }}</code></h1>
<p>Wu et al., <i>A Multigrid Method for Efficiently Training Video Models</i>, CVPR 2020.
{{ runs }} runs in {{ plan.experiments|length }} experiment(s){% if not_run %} ({{ not_run }}
planned runs have not run: the tables say "not run"){% endif %}; every number below comes from
their event logs, except the reported values of the claims table, which name their sources.
Hardware: {{ hardware }}.</p>
{% if skipped %}<p>Variants skipped because this version's config lacks their key:
{{ skipped|join(", ") }}.</p>{% endif %}
<h2>Tables</h2>
{% for table in tables %}{{ table }}{% endfor %}
<h2>Figures</h2>
{% for figure in figures %}
<figure id="{{ figure.id }}">
<img alt="{{ figure.title }}" src="data:image/png;base64,{{ figure.png }}">
<figcaption><b>{{ figure.title }}.</b> {{ figure.caption }}</figcaption>
</figure>
{% endfor %}
</body>
</html>
"""


def render_report(plan: Plan, results_dir: Path | str, figures_dir: Path | str) -> str:
    """The report's HTML text."""
    figures_dir = Path(figures_dir)
    res = Results(plan, results_dir)
    tables = [markupsafe.Markup(to_html(t)) for t in build_tables(res)]
    index = figures_dir / "figures.json"
    if not index.is_file():
        raise ValueError(f"{index}: no figure index (run the figures step first)")
    figures = []
    for entry in json.loads(index.read_text()):
        png = figures_dir / f"{entry['id']}.png"
        if not png.is_file():
            raise ValueError(f"{png}: listed in {index} but missing")
        figures.append({**entry, "png": base64.b64encode(png.read_bytes()).decode("ascii")})
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE).render(
        plan=plan,
        runs=len(res.runs),
        not_run=len(res.planned) - len(res.runs),
        hardware=" / ".join(sorted({r["device"] for r in res.runs})),
        skipped=skipped_variants(plan),
        tables=tables,
        figures=figures,
    )


def write_report(
    plan: Plan, results_dir: Path | str, figures_dir: Path | str, out: Path | str
) -> None:
    """Render the report and write it atomically."""
    atomic_write_text(out, render_report(plan, results_dir, figures_dir))
    print(f"wrote {out}", file=sys.stderr)
