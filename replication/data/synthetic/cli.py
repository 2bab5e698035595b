"""Command line of the generator: ``python -m replication.data.synthetic --out DIR [--FIELD V]``.

Every field of :class:`GeneratorParams` is a flag (``train_per_class`` is ``--train-per-class``)
with the field's default and description; :func:`command_line` writes the same flags back, so
the workflow's data rule runs exactly the parameters of its plan.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

from replication.data.synthetic.generate import MODULE, DatasetExistsError, generate
from replication.data.synthetic.params import GeneratorParams


def flag(field: str) -> str:
    """The command-line flag of a :class:`GeneratorParams` field."""
    return "--" + field.replace("_", "-")


def command_line(out: str | Path, params: GeneratorParams, *, force: bool = False) -> str:
    """The shell command that generates the data set ``params`` into ``out``."""
    words = ["python", "-m", MODULE, "--out", str(out)]
    for field, value in params.model_dump().items():
        words += [flag(field), str(value)]
    return shlex.join([*words, *(["--force"] if force else [])])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``--out``, one flag per parameter, ``--force``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="Write the synthetic multigrid video data set (H.264 mp4 + CSVs).",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    for field, info in GeneratorParams.model_fields.items():
        choices = typing.get_args(info.annotation)
        kind = {"choices": choices} if choices else {"type": info.annotation}
        parser.add_argument(
            flag(field),
            dest=field,
            default=info.default,
            help=f"{info.description} (default {info.default})",
            **kind,  # type: ignore[arg-type]
        )
    parser.add_argument("--force", action="store_true", help="replace a different data set")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 on bad values or another data set)."""
    args = vars(build_parser().parse_args(argv))
    out, force = args.pop("out"), args.pop("force")
    try:
        generate(out, GeneratorParams.checked(**args), force=force)
    except (ValueError, DatasetExistsError) as err:
        hint = "; use --force to replace it" if isinstance(err, DatasetExistsError) else ""
        print(f"error: {err}{hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
