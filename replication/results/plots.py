"""One panel per function, drawn from a frame of :mod:`replication.results.frames`.

Each ``plot_<x>(frame, ..., ax=None) -> ax`` draws onto ``ax`` (a new figure's axes when None)
and returns it, seaborn's way, so a notebook can call it on a frame and restyle the result.
They never save, never set a theme or rcParams and never look a colour up elsewhere: colours come
in as ``palette`` (a dict from label to colour, e.g. :func:`palette_for`), so one variant keeps
one colour in every panel. Axis labels and titles are the caller's (the frames' units and
metric say what they are); artists carry the legend labels. The two-panel figures are made of
one call per panel: :func:`plot_curves` for the validation and the loss panel,
:func:`plot_ablations` for the accuracy and the speedup panel, :func:`plot_throughput` for the
speed and the data-wait panel, :func:`plot_schedule` for each cell of the schedule grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

Color = str | tuple[float, ...]
Palette = Mapping[str, Color]
GREY = "0.5"  # the baseline's budget sweep: context, not a variant


def palette_for(labels: Iterable[str], name: str = "colorblind") -> dict[str, Color]:
    """One colour per distinct label, in the given order, from the seaborn palette ``name``."""
    keys = list(dict.fromkeys(labels))
    return dict(zip(keys, sns.color_palette(name, max(len(keys), 1)), strict=False))


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _by_label(
    draw: Callable[..., Axes],
    data: pd.DataFrame,
    x: str,
    y: str,
    palette: Palette,
    ax: Axes | None,
    hue_order: Sequence[str] | None,
    legend: bool,
    **style: Any,
) -> Axes:
    """A seaborn ``draw`` of ``y`` against ``x``, one hue per label, with an untitled legend.

    Rows sharing an ``x`` and label are averaged, with no error bar: the frames' intervals are
    the tables' bootstrap CIs, drawn where a figure shows them.
    """
    ax = _axes(ax)
    draw(
        data=data,
        x=x,
        y=y,
        hue="label",
        hue_order=hue_order,
        palette=palette,
        errorbar=None,
        ax=ax,
        legend=legend,
        **style,
    )
    if legend:
        ax.legend(title=None)
    return ax


def plot_accuracy_vs_time(
    estimates: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    palette: Palette,
    ax: Axes | None = None,
    sweep_label: str = "baseline, budget sweep",
    legend: bool = False,
) -> Axes:
    """Final metric against training time: seed means with CI, single seeds, the budget sweep.

    Args:
        estimates: the ``estimates`` frame; rows without a mean are left out. Rows with ``sweep``
            are joined by a dashed grey line; rows of group 'budget' are drawn only on it.
        runs: the ``runs`` frame: adds every seed as a small marker (budget seeds grey squares).
        palette: colour per label of every non-budget row.
        ax: axes to draw on; a new figure's when None.
        sweep_label: legend entry of the dashed line.
        legend: draw the axes' legend.

    Returns:
        The axes drawn on.
    """
    ax = _axes(ax)
    est = estimates.dropna(subset=["mean"])
    sweep = est[est["sweep"]].sort_values(["time", "mean"])
    if len(sweep) > 1:
        ax.plot(sweep["time"], sweep["mean"], "--", color=GREY, zorder=1, label=sweep_label)
    seeds = runs if runs is not None else pd.DataFrame(columns=["variant", "group"])
    for _, budget in seeds[seeds["group"] == "budget"].groupby("variant", sort=False):
        ax.scatter(
            budget["time"], budget["value"], color=GREY, marker="s", s=18, alpha=0.6, zorder=2
        )
    for row in est[est["group"] != "budget"].to_dict("records"):
        color, own = palette[row["label"]], seeds[seeds["variant"] == row["variant"]]
        if not own.empty:
            ax.scatter(own["time"], own["value"], color=color, s=12, alpha=0.4, zorder=2)
        ax.errorbar(
            row["time"],
            row["mean"],
            yerr=[[row["mean"] - row["low"]], [row["high"] - row["mean"]]],
            fmt="o",
            ms=7,
            capsize=3,
            color=color,
            label=row["label"],
            zorder=3,
        )
    if legend:
        ax.legend()
    return ax


def plot_curves(
    curves: pd.DataFrame,
    *,
    palette: Palette,
    ax: Axes | None = None,
    hue_order: Sequence[str] | None = None,
    legend: bool = True,
) -> Axes:
    """``value`` against ``time``, one line per label (the ``val_curves``/``loss_curves`` frames).

    Args:
        curves: a frame with columns ``time``, ``value`` and ``label``.
        palette: colour per label.
        ax: axes to draw on; a new figure's when None.
        hue_order: labels in legend order (default: as they first appear).
        legend: draw a legend of the labels (no title).

    Returns:
        The axes drawn on.
    """
    style = {"marker": "o", "markersize": 3}
    return _by_label(sns.lineplot, curves, "time", "value", palette, ax, hue_order, legend, **style)


def plot_accuracy_curves(
    curves: pd.DataFrame,
    *,
    palette: Palette,
    ax: Axes | None = None,
    target: float | None = None,
    target_label: str = "target",
    reach: pd.DataFrame | None = None,
    hue_order: Sequence[str] | None = None,
    legend: bool = True,
) -> Axes:
    """Curve points' ``value`` against ``time``: a seed-mean line per label, thin per-seed lines.

    Args:
        curves: the ``curves`` frame (``label``, ``seed``, ``fraction``, ``time``, ``value``);
            the mean line averages time and value over seeds at each fraction.
        palette: colour per label.
        ax: axes to draw on; a new figure's when None.
        target: y of a dashed line (the time-to-accuracy target); none when None.
        target_label: the dashed line's legend entry.
        reach: the ``time_to_target`` frame: a triangle on the target line at each label's mean
            ``time`` to reach it (rows without one are skipped).
        hue_order: labels in drawing and legend order (default: as they first appear).
        legend: draw a legend of the labels (no title).

    Returns:
        The axes drawn on.
    """
    ax = _axes(ax)
    for label in hue_order or list(dict.fromkeys(curves["label"])):
        own, color = curves[curves["label"] == label], palette[label]
        for _, seed in own.groupby("seed", sort=False):
            seed = seed.sort_values("fraction")
            ax.plot(seed["time"], seed["value"], color=color, linewidth=0.6, alpha=0.35)
        mean = own.groupby("fraction")[["time", "value"]].mean()
        ax.plot(mean["time"], mean["value"], "o-", color=color, markersize=3, label=label)
    if target is not None:
        ax.axhline(target, color=GREY, linestyle="--", linewidth=1, zorder=1, label=target_label)
        for row in (reach if reach is not None else pd.DataFrame()).to_dict("records"):
            if not pd.isna(row["time"]):
                ax.plot(row["time"], target, "v", color=palette[row["label"]], ms=8, zorder=4)
    if legend:
        ax.legend(title=None)
    return ax


def plot_length_sweep(
    lengths: pd.DataFrame,
    *,
    palette: Palette,
    ax: Axes | None = None,
    curves: pd.DataFrame | None = None,
    legend: bool = False,
) -> Axes:
    """Final metric against training time, one line per sweep line, points named by epochs.

    Args:
        lengths: the ``lengths`` frame (``line``, ``epochs``, ``time``, ``mean``, ``low``,
            ``high``): a marker with its CI per point, joined in order of time.
        palette: colour per line.
        ax: axes to draw on; a new figure's when None.
        curves: rows of the ``curves`` frame with a ``line`` and a ``name`` column (e.g. each
            line's longest run): a faint seed-mean line per name, averaged at each fraction,
            behind the points and after them in the legend.
        legend: draw the axes' legend.

    Returns:
        The axes drawn on.
    """
    ax = _axes(ax)
    for line, own in lengths.groupby("line", sort=False):
        own = own.sort_values("time")
        err = [own["mean"] - own["low"], own["high"] - own["mean"]]
        ax.errorbar(
            own["time"],
            own["mean"],
            yerr=err,
            fmt="o-",
            ms=5,
            capsize=3,
            color=palette[line],
            label=line,
            zorder=3,
        )
        for row in own.to_dict("records"):
            ax.annotate(
                f"{row['epochs']} ep",
                (row["time"], row["mean"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(5, -10),
                color=palette[line],
            )
    faint = curves if curves is not None else pd.DataFrame(columns=["line", "name"])
    for (line, name), own in faint.groupby(["line", "name"], sort=False):
        mean = own.groupby("fraction")[["time", "value"]].mean()
        ax.plot(
            mean["time"],
            mean["value"],
            color=palette[line],
            linewidth=0.8,
            alpha=0.35,
            zorder=1,
            label=name,
        )
    if legend:
        ax.legend(title=None)
    return ax


def plot_schedule(
    schedule: pd.DataFrame, y: str, *, palette: Palette, ax: Axes | None = None
) -> Axes:
    """One variant's ``batch`` or ``size`` against iteration, a step line per grid (log2 axis).

    Args:
        schedule: the ``schedule`` frame's rows of one variant.
        y: 'batch' or 'size'.
        palette: colour per grid name; its order is the drawing order, grids absent are skipped.
        ax: axes to draw on; a new figure's when None.

    Returns:
        The axes drawn on.
    """
    ax = _axes(ax)
    for grid, color in palette.items():
        steps = schedule[schedule["grid"] == grid]
        if not steps.empty:
            ax.step(
                steps["iteration"], steps[y], where="post", color=color, label=grid, linewidth=1.2
            )
    ax.set_yscale("log", base=2)
    return ax


def plot_ablations(
    ablations: pd.DataFrame,
    x: str = "mean",
    *,
    palette: Palette,
    ax: Axes | None = None,
    interval: bool = True,
    reference: float | None = None,
) -> Axes:
    """Horizontal bars of ``x`` per row, top to bottom, named with the row's seed count.

    Args:
        ablations: the ``ablations`` frame (``name``, ``label``, ``seeds``, ``n``, ``low``,
            ``high`` and ``x``); rows without ``x`` keep their place, empty.
        x: the bar length column: 'mean' (the metric) or 'speedup'.
        palette: colour per label.
        ax: axes to draw on; a new figure's when None.
        interval: draw the CI [``low``, ``high``] of rows with more than one seed.
        reference: x of a dashed vertical line (1.0: as fast as the baseline).

    Returns:
        The axes drawn on.
    """
    ax = _axes(ax)
    rows = ablations.to_dict("records")
    for i, row in enumerate(rows):
        value = row[x]
        if pd.isna(value):
            continue
        ax.barh(i, value, color=palette[row["label"]])
        if interval and row["n"] > 1:
            err = [[value - row["low"]], [row["high"] - value]]
            ax.errorbar(value, i, xerr=err, color="black", capsize=3)
    if reference is not None:
        ax.axvline(reference, color=GREY, linestyle="--", linewidth=1)
    ticks = [f"{r['name']}\n{r['seeds']} seed{'s' * (r['seeds'] != 1)}" for r in rows]
    ax.set_yticks(range(len(rows)), ticks)
    if not ax.yaxis_inverted():  # a shared y axis is inverted once
        ax.invert_yaxis()
    return ax


def plot_throughput(
    throughput: pd.DataFrame,
    y: str,
    *,
    palette: Palette,
    ax: Axes | None = None,
    order: Sequence[str] | None = None,
    hue_order: Sequence[str] | None = None,
    legend: bool = True,
) -> Axes:
    """Seed-mean bars of ``y`` per grid, one bar per label (the ``throughput`` frame).

    Args:
        throughput: the ``throughput`` frame (``grid``, ``label`` and ``y``).
        y: 'clips_per_s' or 'wait'.
        palette: colour per label.
        ax: axes to draw on; a new figure's when None.
        order: grids from left to right (default: as they first appear).
        hue_order: labels within each grid and in the legend (default: as they first appear).
        legend: draw a legend of the labels (no title).

    Returns:
        The axes drawn on.
    """
    return _by_label(
        sns.barplot, throughput, "grid", y, palette, ax, hue_order, legend, order=order
    )


def plot_loader_capacity(
    frame: pd.DataFrame, cores: Sequence[int] = (10, 16), ax: Axes | None = None
) -> Axes:
    """Cores one GPU needs (``cores_per_gpu``) per ``grid`` and ``mode``, on a log scale.

    Lines mark the cores per GPU a node has (the loader benchmark, ``bench.decode``).
    """
    ax = _axes(ax)
    sns.barplot(data=frame, x="grid", y="cores_per_gpu", hue="mode", ax=ax)
    for n in cores:
        ax.axhline(n, color=GREY, linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("grid (frames x crop)")
    ax.set_ylabel("CPU cores per GPU")
    return ax
