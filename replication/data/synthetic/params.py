"""The generator's parameters: one record behind ``generate()``, its command line and the plans.

:class:`GeneratorParams` is the single list of what a synthetic data set is made from. The
generator validates its keyword arguments through it, the command line builds one flag per field
from it (:mod:`replication.data.synthetic.cli`), a workflow plan's ``generate:`` entry is checked
by it (``replication.workflow``), and the data set's ``manifest.json`` stores its values, in field
order, after the design version, so that a folder generated before is recognised as complete.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from replication.data.synthetic.render import (
    CLASS_NAMES,
    DESIGN_VERSION,
    DISTRACTOR_P,
    MOTION_SETS,
)

MotionSet = Literal[tuple(MOTION_SETS)]  # "timing" or "change"
RENDER_OPTIONS = ("frames", "size", "texture_px", "distractor_pct", "object_pct", "motions")


class GeneratorParams(BaseModel):
    """Parameters of the synthetic generator (``python -m replication.data.synthetic``).

    The same values draw the same videos, byte for byte; a data set folder remembers them in its
    ``manifest.json``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The field order is the order of the manifest's params (and of the data set's README).
    classes: int = Field(
        len(CLASS_NAMES),
        ge=1,
        le=len(CLASS_NAMES),
        description="number of classes: the first N class names of the motion set",
    )
    train_per_class: int = Field(40, ge=1, description="training videos per class")
    val_per_class: int = Field(10, ge=0, description="validation videos per class")
    frames: int = Field(32, ge=2, description="frames per video")
    size: int = Field(
        64, ge=16, multiple_of=2, description="frame height and width in pixels (even, for H.264)"
    )
    fps: int = Field(16, ge=1, description="frame rate written into the files")
    seed: int = Field(
        0, ge=0, description="base seed; video k of a class and split uses (seed, split, class, k)"
    )
    texture_px: int = Field(
        1, ge=1, description="texture line width in pixels (1: only the base spatial grid sees it)"
    )
    distractor_pct: int = Field(
        round(100 * DISTRACTOR_P), ge=0, le=100, description="percent of videos with a distractor"
    )
    object_pct: int = Field(25, ge=5, le=70, description="mean object size, percent of the frame")
    motions: MotionSet = Field(  # type: ignore[valid-type]
        "timing",
        description="temporal events: timing (right/left/reverse/fast: needs the base temporal "
        "grid) or change (colour drifts: visible on every grid)",
    )

    @classmethod
    def checked(cls, **fields: Any) -> GeneratorParams:
        """The record of ``fields``; a bad value raises a one-line ValueError naming the field."""
        try:
            return cls(**fields)
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{key}: {first['msg']}, got {first['input']!r}") from None

    def manifest(self) -> dict[str, int | str]:
        """The ``params`` of the data set's manifest: the design version, then every field."""
        return {"design_version": DESIGN_VERSION, **self.model_dump()}

    def render_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~replication.data.synthetic.render.render_video`."""
        return self.model_dump(include=set(RENDER_OPTIONS))
