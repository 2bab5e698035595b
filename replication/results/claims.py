"""Numbers the paper and the reference re-implementation report, as data, with their sources.

Transcribed from the shared multigrid spec, section 3 (/work/shared/multigrid-spec.md), which
cites where each was read. The paper's own tables could not be retrieved, so only the abstract's
numbers, issue threads and PySlowFast's MODEL_ZOO appear; nothing here is ours. The claims
table sets each beside the matching number of our runs (see :mod:`replication.results.tables`).

``quantity`` says which of our numbers compares:
- ``speedup``: measured wall-clock speedup of long + short over the baseline;
- ``delta``: long + short minus baseline, in the metric's points;
- ``metric``: the metric of ``variant`` (``baseline`` or ``long_short``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PAPER = "Wu et al. 2020, abstract (arXiv 1912.00998)"
MODEL_ZOO = "PySlowFast MODEL_ZOO.md, multigrid re-implementation (June 2020)"
PWC = "Papers-with-Code leaderboard via hyper.ai mirror; model row unknown"
NOTES = "third-party paper notes (patrick-llgc), Table 4 per SlowFast issue #356; not authoritative"


@dataclass(frozen=True)
class Claim:
    """One reported number."""

    group: str  # which experiments it compares with (Experiment.compare_with)
    what: str  # the claim in words
    value: float  # as reported
    quantity: Literal["speedup", "delta", "metric"]
    metric: str  # top1, top5 or mAP (for speedup: the unit 'x')
    variant: str  # whose number compares: long_short or baseline
    source: str


CLAIMS: tuple[Claim, ...] = (
    Claim("k400_slowfast_r50", "wall-clock speedup, long + short vs baseline", 4.5, "speedup",
          "x", "long_short", PAPER),
    Claim("k400_slowfast_r50", "top-1 change, long + short vs baseline", 0.8, "delta",
          "top1", "long_short", PAPER),
    Claim("k400_slowfast_r50_1gpu", "speedup on 1 GPU", 3.0, "speedup", "x", "long_short",
          NOTES),
    Claim("k400_slowfast_r50", "baseline top-1", 76.8, "metric", "top1", "baseline", MODEL_ZOO),
    Claim("k400_slowfast_r50", "baseline top-5", 92.7, "metric", "top5", "baseline", MODEL_ZOO),
    Claim("k400_slowfast_r50", "multigrid top-1", 76.6, "metric", "top1", "long_short",
          MODEL_ZOO),
    Claim("k400_slowfast_r50", "multigrid top-5", 92.7, "metric", "top5", "long_short",
          MODEL_ZOO),
    Claim("k400_slowfast_r50", "multigrid top-1", 77.6, "metric", "top1", "long_short", PWC),
    Claim("ssv2_slowfast_16x8", "baseline top-1", 63.0, "metric", "top1", "baseline", MODEL_ZOO),
    Claim("ssv2_slowfast_16x8", "baseline top-5", 88.5, "metric", "top5", "baseline", MODEL_ZOO),
    Claim("ssv2_slowfast_16x8", "multigrid top-1", 63.5, "metric", "top1", "long_short",
          MODEL_ZOO),
    Claim("ssv2_slowfast_16x8", "multigrid top-5", 88.7, "metric", "top5", "long_short",
          MODEL_ZOO),
    Claim("ssv2_slowfast_16x8", "multigrid top-1", 61.7, "metric", "top1", "long_short", PWC),
    Claim("charades_slowfast_16x8", "baseline mAP", 38.9, "metric", "mAP", "baseline", MODEL_ZOO),
    Claim("charades_slowfast_16x8", "multigrid mAP", 38.6, "metric", "mAP", "long_short",
          MODEL_ZOO),
    Claim("charades_slowfast_16x8", "multigrid mAP", 38.2, "metric", "mAP", "long_short", PWC),
)  # fmt: skip
