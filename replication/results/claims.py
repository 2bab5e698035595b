"""Numbers the paper and the reference re-implementation report, as data, with their sources.

Transcribed from the shared multigrid spec, section 3 (/work/shared/multigrid-spec.md), which
cites where each was read. The paper's own tables could not be retrieved, so only the abstract's
numbers, issue threads and PySlowFast's MODEL_ZOO appear; nothing here is ours. The claims
table (:func:`claims_table`) sets each beside the like number of our runs.

``quantity`` says which of our numbers compares:
- ``speedup``: measured total wall-clock speedup of long + short over the baseline (job start
  to summary, as the paper's wall-clock; not the training loop alone);
- ``delta``: long + short minus baseline, in the metric's points;
- ``metric``: the metric of ``variant`` (``baseline`` or ``long_short``).

``init`` says what the reported model was fine-tuned from (a claims group: the reference starts
its SSv2 and Charades models from K400), so ours is marked where it was trained otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replication.results.formats import NONE, NOT_RUN, Table, num
from replication.results.query import Results
from replication.results.units import TIMES
from replication.workflow import BASELINE, Experiment

PAPER = "Wu et al. 2020, abstract (arXiv 1912.00998)"
MODEL_ZOO = "PySlowFast MODEL_ZOO.md, multigrid re-implementation (June 2020)"
PWC = "Papers-with-Code leaderboard via hyper.ai mirror; model row unknown"
FROM_K400 = "k400_slowfast_r50"  # the reference's SSv2 and Charades models start from K400
UNKNOWN = "unknown"  # a source that does not say what its model started from
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
    init: str | None = None  # claims group its model was fine-tuned from; None: scratch


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
    Claim("ssv2_slowfast_16x8", "baseline top-1", 63.0, "metric", "top1", "baseline", MODEL_ZOO,
          FROM_K400),
    Claim("ssv2_slowfast_16x8", "baseline top-5", 88.5, "metric", "top5", "baseline", MODEL_ZOO,
          FROM_K400),
    Claim("ssv2_slowfast_16x8", "multigrid top-1", 63.5, "metric", "top1", "long_short",
          MODEL_ZOO, FROM_K400),
    Claim("ssv2_slowfast_16x8", "multigrid top-5", 88.7, "metric", "top5", "long_short",
          MODEL_ZOO, FROM_K400),
    Claim("ssv2_slowfast_16x8", "multigrid top-1", 61.7, "metric", "top1", "long_short", PWC,
          UNKNOWN),
    Claim("charades_slowfast_16x8", "baseline mAP", 38.9, "metric", "mAP", "baseline", MODEL_ZOO,
          FROM_K400),
    Claim("charades_slowfast_16x8", "multigrid mAP", 38.6, "metric", "mAP", "long_short",
          MODEL_ZOO, FROM_K400),
    Claim("charades_slowfast_16x8", "multigrid mAP", 38.2, "metric", "mAP", "long_short", PWC,
          UNKNOWN),
)  # fmt: skip


def claims_table(res: Results) -> Table:
    """Each reported number beside ours from the experiment that stands in for it.

    "not run" where no experiment of the plan compares with the claim's setting, or where none
    of the runs our number needs finished.
    """
    rows = []
    for claim in CLAIMS:
        exps = [e for e in res.plan.experiments if e.compare_with == claim.group]
        reported = (claim.group, claim.what, _reported(claim), claim.source)
        if not exps:
            rows.append((*reported, NOT_RUN, _figure(res, None, claim), NONE))
        rows.extend((*reported, _ours(res, e, claim), _figure(res, e, claim), e.id) for e in exps)
    return Table(
        id="claims",
        title="Reported numbers beside ours",
        caption=(
            "Reported: from the paper's abstract, PySlowFast's MODEL_ZOO re-implementation and "
            "other sources as named (the paper's tables were not available). Ours: the like "
            "figure of the experiment of this plan that compares with the claim's setting (a "
            "wall-clock speedup beside our total wall-clock speedup, job start to summary); a "
            "smoke experiment on synthetic data only stands in for it, so its numbers check the "
            "mechanics (speedup, direction of accuracy change), not the paper's values."
        ),
        columns=("Setting", "Claim", "Reported", "Source", "Ours", "Our figure", "Our experiment"),
        rows=tuple(rows),
        align="llrlrll",
    )


def _reported(claim: Claim) -> str:
    if claim.quantity == "speedup":
        return f"{claim.value:.1f}{TIMES}"
    if claim.quantity == "delta":
        return f"{claim.value:+.1f}"
    return f"{claim.value:.1f}"


def _figure(res: Results, exp: Experiment | None, claim: Claim) -> str:
    """What our number is, with the hardware it ran on for a speedup."""
    unlike = _unlike_start(res, exp, claim)
    if claim.quantity == "delta":
        return f"{claim.metric} change, final test{unlike}"
    if claim.quantity == "metric":
        return f"{claim.variant} {claim.metric}, final test{unlike}"
    runs = [r for r in res.runs if exp is not None and r["experiment"] == exp.id]
    devices = sorted({f"{r['num_devices']} {r['device_kind']}" for r in runs})
    return "total wall-clock speedup" + (f", {' / '.join(devices)}" if devices else "")


def _unlike_start(res: Results, exp: Experiment | None, claim: Claim) -> str:
    """'' when our experiment starts as the claim's model did; else what differs, in words."""
    if exp is None or claim.init == UNKNOWN:
        return ""
    source = exp.init_from.experiment if exp.init_from else None
    ours = next((e.compare_with for e in res.plan.experiments if e.id == source), source)
    if ours == claim.init:
        return ""
    theirs = f"fine-tuned from {claim.init}" if claim.init else "trained from scratch"
    mine = f"fine-tuned from {source}" if source else "trained from scratch"
    return f"; unlike: ours {mine}, the claim's {theirs}"


def _ours(res: Results, exp: Experiment, claim: Claim) -> str:
    needed = (claim.variant, BASELINE) if claim.quantity != "metric" else (claim.variant,)
    if any(not res.runs_of(exp.id, v) for v in needed):
        return NOT_RUN
    if claim.quantity == "speedup":
        return num(res.speedup(exp.id, claim.variant, "total_s"), 2, TIMES)
    if claim.metric not in res.metrics(exp.id):
        return NONE
    if claim.quantity == "delta":
        this, base = (res.mean(exp.id, v, claim.metric) for v in (claim.variant, BASELINE))
        return NONE if this is None or base is None else f"{this - base:+.1f}"
    est = res.estimate(exp.id, claim.variant, claim.metric)
    return NONE if est is None else est.text(1)
