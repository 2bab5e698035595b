"""``python -m replication.gpu wheelhouse|check``: the argument parser (standard library only)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The two subcommands and their options."""
    parser = argparse.ArgumentParser(prog="python -m replication.gpu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wheelhouse", help="download/build the wheels a GPU node lacks")
    w.add_argument("--python-version", default="3.12", help="the node's Python, e.g. 3.12")
    w.add_argument(
        "--platform",
        action="append",
        default=None,
        help="pip platform tag (repeatable; default manylinux2014_x86_64)",
    )
    w.add_argument("--out", type=Path, default=Path("wheelhouse"), help="folder of wheels")
    c = sub.add_parser("check", help="install from a wheelhouse and run the GPU check")
    c.add_argument("--wheelhouse", type=Path, default=Path("wheelhouse"))
    c.add_argument("--out", type=Path, required=True, help="results folder to keep")
    c.add_argument("--work", type=Path, default=None, help="scratch folder (default: OUT/../work)")
    c.add_argument("--budget-s", type=float, default=480.0, help="the whole check's time limit")
    c.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="the same steps shrunk to seconds on a CPU (tests the script, not the GPU)",
    )
    c.add_argument(
        "--no-install", action="store_true", help="use the packages this Python already has"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "wheelhouse":
        from replication.gpu.wheelhouse import build

        return build(args.out, args.python_version, args.platform or ["manylinux2014_x86_64"])
    from replication.gpu.check import run_check

    return run_check(args)
