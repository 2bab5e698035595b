"""The data set on disk: every video, the CSVs, classes.json, the README and the manifest.

:func:`generate` renders each clip with :func:`~replication.data.synthetic.render.render_video`
from a seed of its own and writes it atomically, then the index files, then marks the manifest
complete. The manifest's ``params`` (:meth:`GeneratorParams.manifest`) say which data set a folder
holds: the same parameters again leave a complete one as it is and finish an interrupted one;
other parameters are refused unless ``force`` is given.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from replication.data.synthetic.params import GeneratorParams
from replication.data.synthetic.render import class_names, render_video
from replication.data.video_io import write_video
from replication.io.atomic import atomic_write_text

SPLITS = ("train", "val")
MODULE = "replication.data.synthetic"  # the generator's name in manifests (not __name__)

_ABOUT = {  # README wording of each motion and texture
    "right": "moves right",
    "left": "moves left",
    "reverse": "moves right, then turns back left",
    "fast": "moves right at twice the speed",
    "brighten": "gets brighter (moving right or left)",
    "darken": "gets darker (moving right or left)",
    "warm": "gets redder and less blue (moving right or left)",
    "cool": "gets bluer and less red (moving right or left)",
    "stripes": "stripes (vertical or horizontal)",
    "checker": "checkerboard",
}
_README = """# Synthetic multigrid data set

Written by `python -m {module}` (its docstring explains the design). Label = motion and
{texture_px}-pixel texture of a *target* object; {distractor_pct} % of the videos add a flat
*distractor* in the target's mean colour. {about_motion} {about_texture}

| label | class | motion | texture |
|---|---|---|---|
{rows}

Parameters:

{params}

Files: `videos/<split>/<class>/*.mp4` (H.264, crf 18), `train.csv` and `val.csv` (`path,label`,
paths relative to this folder), `classes.json` (class names in label order).
"""


class DatasetExistsError(RuntimeError):
    """The output folder holds a different data set (or foreign files) and ``force`` is off."""


def generate(
    out: str | Path,
    params: GeneratorParams | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    **fields: Any,
) -> Path:
    """Write the data set into ``out`` (see the package docstring); return ``out``.

    A complete data set with the same parameters is left as it is; an interrupted one with the
    same parameters is finished (videos are written atomically, so existing ones are whole).

    Args:
        out: output folder, created if needed.
        params: the data set's parameters; ``None`` builds them from ``fields``.
        force: replace a data set made with other parameters (or a folder without a manifest).
        progress: show a progress bar on stderr.
        **fields: fields of :class:`GeneratorParams` (``classes=2, size=32, ...``), the rest
            taking their defaults; only without ``params``.

    Raises:
        ValueError: a parameter is out of range (one line naming it).
        DatasetExistsError: ``out`` holds something else and ``force`` is off.
    """
    if params is None:
        params = GeneratorParams.checked(**fields)
    elif fields:
        raise TypeError(f"generate() takes params or fields, not both: {sorted(fields)}")
    out = Path(out)
    manifest = params.manifest()
    state = _prepare(out, manifest, force)
    if state == "complete":
        return out
    for tmp in out.glob("videos/*/*/.*.tmp"):  # half-written by an interrupted run
        tmp.unlink()
    _write_manifest(out, manifest, complete=False)
    names = class_names(params.motions)[: params.classes]
    jobs = _jobs(params, names)
    bar = tqdm(jobs, desc=f"synthetic {out}", unit="video", file=sys.stderr, disable=not progress)
    for _, rel, label, key in bar:
        if state == "resume" and (out / rel).exists():  # whole: written atomically
            continue
        rng = np.random.default_rng(np.random.SeedSequence(key))
        clip = render_video(label, rng, **params.render_options())
        write_video(out / rel, clip, fps=params.fps)

    # Index files last: a data set without its CSVs is visibly unfinished.
    atomic_write_text(out / "README.md", _readme(manifest))
    atomic_write_text(out / "classes.json", json.dumps(list(names), indent=1) + "\n")
    for split in SPLITS:
        lines = [f"{rel},{label}\n" for split_, rel, label, _ in jobs if split_ == split]
        atomic_write_text(out / f"{split}.csv", "path,label\n" + "".join(lines))
    _write_manifest(out, manifest, complete=True)
    return out


def _jobs(params: GeneratorParams, names: tuple[str, ...]) -> list[tuple[str, str, int, tuple]]:
    """Every video: (split, path relative to the folder, label, seed key), in CSV order."""
    per_split = {"train": params.train_per_class, "val": params.val_per_class}
    return [
        (split, f"videos/{split}/{name}/{split}_{name}_{k}.mp4", label, (params.seed, i, label, k))
        for i, split in enumerate(SPLITS)
        for label, name in enumerate(names)
        for k in range(per_split[split])
    ]


def _prepare(out: Path, params: dict[str, int | str], force: bool) -> str:
    """Make ``out`` ready; say if it holds this data set ``complete``, to ``resume``, or ``new``."""
    manifest = _read_manifest(out, force)
    if manifest is not None and manifest.get("params") == params:
        return "complete" if manifest.get("complete") else "resume"
    if not force:
        if manifest is not None:
            old = manifest.get("params") or {}
            diff = [f"{k} {old.get(k)} -> {v}" for k, v in params.items() if old.get(k) != v]
            raise DatasetExistsError(f"{out} was made with other parameters: {', '.join(diff)}")
        if out.exists() and any(out.iterdir()):
            raise DatasetExistsError(f"{out} is not empty and has no manifest.json")
    if manifest is not None and manifest.get("generator") == MODULE:
        _remove_owned(out)  # what we wrote before; a foreign folder keeps its files
    out.mkdir(parents=True, exist_ok=True)
    return "new"


def _read_manifest(out: Path, force: bool) -> dict | None:
    """The manifest in ``out``, or None; an unreadable one counts as none only under ``force``."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if force:
            return None
        raise DatasetExistsError(f"{out / 'manifest.json'} is unreadable ({err})") from None
    return manifest if isinstance(manifest, dict) else None


def _remove_owned(out: Path) -> None:
    """Delete what a previous run may have written, and nothing else in ``out``."""
    shutil.rmtree(out / "videos", ignore_errors=True)
    for name in ("manifest.json", "README.md", "classes.json", *(f"{s}.csv" for s in SPLITS)):
        (out / name).unlink(missing_ok=True)


def _write_manifest(out: Path, params: dict[str, int | str], *, complete: bool) -> None:
    doc = {"generator": MODULE, "params": params, "complete": complete}
    atomic_write_text(out / "manifest.json", json.dumps(doc, indent=1) + "\n")


def _readme(params: dict[str, int | str]) -> str:
    rows = [
        f"| {i} | `{n}` | {_ABOUT[n.split('_')[0]]} | {_ABOUT[n.split('_')[1]]} |"
        for i, n in enumerate(class_names(str(params["motions"])))
    ]
    lines = [f"- `{key}`: {value}" for key, value in params.items()]
    timing = params["motions"] == "timing"
    fine = params["texture_px"] == 1
    return _README.format(
        module=MODULE,
        texture_px=params["texture_px"],
        distractor_pct=params["distractor_pct"],
        about_motion=(
            "The motions need several frames at a known stride (the base temporal grid)."
            if timing
            else "The colour drifts show in any two frames at any stride, not in one frame."
        ),
        about_texture=(
            "The textures vanish at half resolution: only the base spatial grid sees them."
            if fine
            else "The textures stay visible, blurred, on coarser spatial grids."
        ),
        rows="\n".join(rows[: params["classes"]]),
        params="\n".join(lines),
    )
