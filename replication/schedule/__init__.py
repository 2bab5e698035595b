"""The multigrid schedule (Wu et al., CVPR 2020, section 3): pure math on the config, no torch.

``records`` holds the named records, ``long_cycle`` and ``epochs`` the reference's rules,
``iterations`` the one count of iterations per epoch and the cost, ``lr`` the learning rate at
any fractional epoch, ``build`` assembles them, ``render`` prints and serialises the result.
"""

from replication.schedule.build import DEFAULT_CLIPS_PER_EPOCH, build_schedule, load_schedule
from replication.schedule.curve import CurvePoint, curve_points, run_curve_points
from replication.schedule.iterations import clips_per_process, iterations_per_epoch
from replication.schedule.lr import LRSchedule
from replication.schedule.records import (
    BNMode,
    Cost,
    EpochPlan,
    EpochShape,
    LongCyclePhase,
    Schedule,
    ShortCycleGrid,
)

__all__ = [
    "DEFAULT_CLIPS_PER_EPOCH",
    "BNMode",
    "Cost",
    "CurvePoint",
    "EpochPlan",
    "EpochShape",
    "LRSchedule",
    "LongCyclePhase",
    "Schedule",
    "ShortCycleGrid",
    "build_schedule",
    "clips_per_process",
    "curve_points",
    "iterations_per_epoch",
    "load_schedule",
    "run_curve_points",
]
