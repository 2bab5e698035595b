"""Command line: ``python -m replication <command> ...``.

Every command turns a bad config into one line on stderr naming the file and key, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from replication.config import RunConfig, config_source
from replication.config.docs import config_reference, config_schema
from replication.config.errors import run_command
from replication.config.pyslowfast import render_translation, translate_file
from replication.config.rules import config_notes
from replication.io.atomic import atomic_write_text
from replication.schedule import DEFAULT_CLIPS_PER_EPOCH, build_schedule, load_schedule
from replication.schedule.render import schedule_table, schedule_to_json


def _print_notes(cfg: RunConfig) -> None:
    for note in config_notes(cfg):
        print(f"note: {note}", file=sys.stderr)


def _cmd_schedule(args: argparse.Namespace) -> int:
    cfg, schedule = load_schedule(args.config, args.set, clips_per_epoch=args.clips_per_epoch)
    _print_notes(cfg)
    if args.json:
        print(json.dumps(schedule_to_json(schedule), indent=1))
    else:
        print(schedule_table(schedule, cfg.data.sampling_rate, title=f"== {args.config} =="))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    cfg, _ = load_schedule(args.config, args.set)
    _print_notes(cfg)
    # Imported here: torch and pytorchvideo take seconds to import, the other commands need neither.
    from replication.engine.loop import train
    from replication.engine.setup import process_started

    started = process_started(fallback=time.perf_counter())  # imports count: a job pays them
    summary = train(cfg, Path(args.run_dir), progress=not args.quiet, job_started=started)
    if summary is None:
        print(f"stopped; resume with the same command (run folder {args.run_dir})", file=sys.stderr)
        return 3
    print(json.dumps(summary["metrics"]))
    return 0


def _cmd_launch(args: argparse.Namespace) -> int:
    # Imported here: submitit and torch are needed by this command only.
    from replication.cluster.launch import run_launch

    try:
        return run_launch(
            args.config, args.run_dir, args.cluster, args.slurm, tuple(args.set), not args.no_wait
        )
    except KeyboardInterrupt:
        return 130


def _cmd_slurm_profile(args: argparse.Namespace) -> int:
    from replication.cluster.site_profile import write_profile

    text = write_profile(args.write, args.processes, args.partition, args.overcommit)
    if args.write:
        print(f"wrote {args.write}; check it with: python -m replication launch CONFIG "
              f"--run-dir runs/check --cluster slurm --slurm {args.write} --no-wait",
              file=sys.stderr)  # fmt: skip
    else:
        sys.stdout.write(text)
    return 0


def _cmd_pyslowfast_config(args: argparse.Namespace) -> int:
    cfg, ours, notes = translate_file(args.file)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    with config_source(args.file):
        build_schedule(cfg)  # schedule errors too, before anything is written
    text = render_translation(args.file, ours, notes)
    if args.write:
        atomic_write_text(args.write, text)
        print(f"wrote {args.write}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_config_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(config_schema())
    return 0


def _cmd_config_docs(args: argparse.Namespace) -> int:
    sys.stdout.write(config_reference())
    return 0


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", help="experiment YAML, e.g. config/kinetics/slowfast_8x8_r50_multigrid.yaml"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key (repeatable)",
    )


def _add_pyslowfast_config(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "pyslowfast-config", help="translate a PySlowFast YAML config (with _BASE_) into ours"
    )
    p.add_argument("file", help="PySlowFast config, e.g. SLOWFAST_8x8_R50_stepwise_multigrid.yaml")
    p.add_argument("--write", metavar="OUT", help="write our config here (default: print it)")
    p.set_defaults(func=_cmd_pyslowfast_config)


def _add_slurm_profile(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "slurm-profile", help="write a SLURM profile for this cluster from what sinfo says"
    )
    p.add_argument(
        "--processes",
        type=int,
        required=True,
        help="training processes of the job (the configs' train.num_gpus)",
    )
    p.add_argument("--partition", default="", help="partition (default: the default one)")
    p.add_argument("--write", metavar="FILE", help="write the profile here (default: print it)")
    p.add_argument(
        "--overcommit",
        action="store_true",
        help="allow more processes than a CPU node has cores (test clusters)",
    )
    p.set_defaults(func=_cmd_slurm_profile)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m replication",
        description="Multigrid training replication suite (Wu et al., CVPR 2020).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("schedule", help="print the multigrid schedule of a config")
    _config_arguments(p)
    p.add_argument("--json", action="store_true", help="print the machine-readable document")
    p.add_argument(
        "--clips-per-epoch",
        type=int,
        default=DEFAULT_CLIPS_PER_EPOCH,
        help="training clips per epoch for the cost estimate (default: %(default)s)",
    )
    p.set_defaults(func=_cmd_schedule)

    p = commands.add_parser("train", help="train a config in a run folder (resumes if present)")
    p.add_argument("config", help="experiment YAML")
    p.add_argument("--run-dir", required=True, help="run folder: events, checkpoints, summary")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = commands.add_parser(
        "launch", help="submit a training through submitit (SLURM, local processes or debug)"
    )
    p.add_argument("config", help="experiment YAML")
    p.add_argument("--run-dir", required=True, help="run folder: events, checkpoints, summary")
    p.add_argument(
        "--cluster",
        required=True,
        choices=("slurm", "local", "debug"),
        help="slurm: sbatch; local: processes on this machine; debug: in this process",
    )
    p.add_argument(
        "--slurm",
        metavar="PROFILE",
        help="resource profile, e.g. slurm/local.yaml (default: one task; locally a GPU if any)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )
    p.add_argument(
        "--no-wait", action="store_true", help="return once submitted instead of waiting"
    )
    p.set_defaults(func=_cmd_launch)

    _add_slurm_profile(commands)
    _add_pyslowfast_config(commands)

    p = commands.add_parser("config-schema", help="print the JSON schema of experiment configs")
    p.set_defaults(func=_cmd_config_schema)

    p = commands.add_parser("config-docs", help="print the reference of every config key")
    p.set_defaults(func=_cmd_config_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    return run_command(build_parser(), argv)
