"""A wheelhouse of what a GPU node lacks, for a given Python version and platform (stdlib only).

The node has Python, torch, torchvision, numpy, pandas, matplotlib, seaborn, pyyaml, tqdm,
jinja2, pytest and hypothesis (DEVELOPERS context of issue 16); it lacks the packages in
:data:`MISSING` (pytorchvideo, PyAV, fvcore, iopath, submitit, pydantic and what they need beyond
the node's set). Versions are requirements.lock's, the set CI tests. Binary wheels come from
``pip download --only-binary=:all: --no-deps``; packages published only as sdists (pure Python)
are built here with ``pip wheel --no-deps`` and must come out ``py3-none-any``. Snakemake is
left out: the check trains with ``python -m replication train``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
LIMIT_MB = 60.0
# Dependency closure beyond the node's packages, by hand (pip --no-deps cannot compute it for
# another platform without an index of the node's own set): name -> what needs it.
MISSING = {
    "pydantic": "replication.config",
    "pydantic_core": "pydantic",
    "annotated-types": "pydantic",
    "typing-inspection": "pydantic",
    "typing_extensions": "pydantic (newer than torch's may be)",
    "av": "replication.data.video_io, pytorchvideo",
    "pytorchvideo": "replication.model.builders",
    "fvcore": "replication.model.fvcore_bridge, pytorchvideo",
    "iopath": "fvcore, pytorchvideo",
    "portalocker": "iopath",
    "yacs": "fvcore",
    "termcolor": "fvcore",
    "tabulate": "fvcore",
    "parameterized": "pytorchvideo",
    "submitit": "replication.cluster.jobs",
    "cloudpickle": "submitit",
}
# torch >= 2.6 publishes manylinux_2_28 wheels only, so a node that runs it has glibc >= 2.28;
# PyAV's wheels need it too.
GLIBC_TAG = "manylinux_2_28"


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(lock: Path = LOCK) -> dict[str, str]:
    """``name==version`` of every package in :data:`MISSING`, from the lock file."""
    pins = {}
    for line in lock.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and _key(name) in {_key(n) for n in MISSING}:
            pins[_key(name)] = f"{name.strip()}=={version.strip()}"
    absent = sorted({_key(n) for n in MISSING} - set(pins))
    if absent:
        raise SystemExit(f"error: {lock}: no pinned version of {', '.join(absent)}")
    return pins


def platforms(given: list[str]) -> list[str]:
    """The platform tags to accept: those given, plus the glibc-2.28 tag of their machine."""
    extra = [f"{GLIBC_TAG}_{p.split('_', 1)[1]}" for p in given if p.startswith("manylinux2014_")]
    return list(dict.fromkeys([*given, *extra]))


def _pip(args: list[str], log: list[str]) -> bool:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    log.append(done.stdout + done.stderr)
    return done.returncode == 0


def build(out: Path, python_version: str, platform: list[str]) -> int:
    """Fill ``out`` with one wheel per package of :data:`MISSING`; returns the exit code."""
    out.mkdir(parents=True, exist_ok=True)
    tags = [word for tag in platforms(platform) for word in ("--platform", tag)]
    for requirement in pinned_versions().values():
        log: list[str] = []
        binary = ["download", "--only-binary=:all:", "--no-deps", "--python-version",
                  python_version, *tags, "--dest", str(out), requirement]  # fmt: skip
        if _pip(binary, log):
            print(f"wheelhouse: {requirement}: downloaded", flush=True)
            continue
        # No wheel for the node: an sdist, built here; only pure Python may travel.
        if not _pip(["wheel", "--no-deps", "--wheel-dir", str(out), requirement], log):
            print(f"error: {requirement}: neither a wheel nor a build\n{log[-1]}", file=sys.stderr)
            return 1
        print(f"wheelhouse: {requirement}: built from its sdist", flush=True)
    impure = [w.name for w in _wheels(out) if _pure_expected(w.name) and "none-any" not in w.name]
    if impure:
        print(f"error: {out}: built wheels are not pure Python: {impure}", file=sys.stderr)
        return 1
    size_mb = sum(w.stat().st_size for w in _wheels(out)) / 1e6
    print(f"wheelhouse: {out}: {len(_wheels(out))} wheels, {size_mb:.1f} MB", flush=True)
    if size_mb > LIMIT_MB:
        print(
            f"error: {out}: {size_mb:.1f} MB is over the {LIMIT_MB:.0f} MB limit", file=sys.stderr
        )
        return 1
    return 0


def _wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl"))


def _pure_expected(filename: str) -> bool:
    return _key(filename.split("-")[0]) in {"pytorchvideo", "fvcore", "iopath"}
