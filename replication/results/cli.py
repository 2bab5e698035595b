"""Command line of the workflow steps: ``python -m replication.results <command> ...``.

The Snakefile's rules call these; each is usable alone too. A plan is given as a file
(``--plan config/config.yaml``, ``--plan results/smoke/plan.json``). Bad input stops with one line
on stderr naming the file, key or run, exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from replication.config import ConfigError
from replication.config.errors import run_command
from replication.results.collect import CollectError, collect
from replication.workflow import PlanError, read_plan


def _cmd_collect(args: argparse.Namespace) -> int:
    plan = read_plan(args.plan)
    paths = collect(plan, args.runs, progress=True).write(args.out)
    print(f"collected {plan.name}: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def _cmd_tables(args: argparse.Namespace) -> int:
    from replication.results.tables import Results, build_tables, write_tables

    plan = read_plan(args.plan)
    tables = build_tables(Results(plan, args.results))
    write_tables(tables, args.out, f"Tables of plan '{plan.name}'")
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    # Imported here: matplotlib and seaborn take seconds to import; other commands need neither.
    from replication.results.figures import build_figures

    plan = read_plan(args.plan)
    build_figures(plan, args.results, args.out)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from replication.results.report import write_report

    plan = read_plan(args.plan)
    write_report(plan, args.results, args.figures, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="python -m replication.results", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("collect", help="event logs of every run -> results/<plan>/*.csv")
    p.add_argument("--plan", type=Path, required=True, help="plan file")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="root of run folders")
    p.add_argument("--out", type=Path, required=True, help="results folder of the plan")
    p.set_defaults(func=_cmd_collect)

    p = commands.add_parser("tables", help="results CSVs -> Markdown, CSV and LaTeX tables")
    p.add_argument("--plan", type=Path, required=True, help="plan file")
    p.add_argument("--results", type=Path, required=True, help="results folder of the plan")
    p.add_argument("--out", type=Path, required=True, help="tables folder")
    p.set_defaults(func=_cmd_tables)

    p = commands.add_parser("figures", help="results CSVs -> PNG and PDF figures")
    p.add_argument("--plan", type=Path, required=True, help="plan file")
    p.add_argument("--results", type=Path, required=True, help="results folder of the plan")
    p.add_argument("--out", type=Path, required=True, help="figures folder")
    p.set_defaults(func=_cmd_figures)

    p = commands.add_parser("report", help="tables + figures -> one self-contained HTML file")
    p.add_argument("--plan", type=Path, required=True, help="plan file")
    p.add_argument("--results", type=Path, required=True, help="results folder of the plan")
    p.add_argument("--figures", type=Path, required=True, help="figures folder")
    p.add_argument("--out", type=Path, required=True, help="HTML file")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    return run_command(build_parser(), argv, (PlanError, CollectError, ConfigError, ValueError))
