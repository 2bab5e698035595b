"""Command line of the workflow: ``python -m replication.workflow <command> ...``.

``plan`` lists a plan's runs with their estimated cost, or saves the validated plan as JSON (what
the Snakefile's ``plan`` rule does); several ``--plan`` files are laid over each other as
``snakemake --configfile`` does. ``schema`` prints the JSON schema of plan files. Bad input stops
with one line on stderr naming the file, key or run, exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from replication.config import ConfigError
from replication.config.errors import run_command
from replication.io.atomic import atomic_write_text
from replication.workflow.commands import MODULE
from replication.workflow.cost import print_plan
from replication.workflow.load import DEFAULT_PLAN, read_plan
from replication.workflow.records import PlanError
from replication.workflow.schema import plan_schema


def _cmd_plan(args: argparse.Namespace) -> int:
    plan = read_plan(*(args.plan or [DEFAULT_PLAN]), select=args.select)
    if args.write:
        atomic_write_text(args.write, plan.model_dump_json(indent=1) + "\n")
    else:
        print_plan(plan)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(plan_schema())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("plan", help="list a plan's runs and estimated cost, or save it")
    p.add_argument(
        "--plan",
        type=Path,
        action="append",
        metavar="FILE",
        help=f"plan file; again to lay another over it, as --configfile does (default "
        f"{DEFAULT_PLAN})",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="ID",
        help="train only this experiment (repeatable; replaces the plan's select)",
    )
    p.add_argument("--write", type=Path, metavar="OUT", help="save the validated plan as JSON")
    p.set_defaults(func=_cmd_plan)

    p = commands.add_parser("schema", help="print the JSON schema of plan files")
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    return run_command(build_parser(), argv, (PlanError, ConfigError))
