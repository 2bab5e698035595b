"""Where a stored config (a run folder's ``config.json``) and a new one disagree.

One rule for every caller (the launcher refusing to continue another config's run folder, and
collect refusing runs trained with another config than the plan's): both configs are flattened
to dotted keys and every key *both* have must agree. A key only one side has is not compared:
the run was saved by a version of the suite without it (the committed fixture runs predate
``data.random_flip``, for example), or this version dropped it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Difference(NamedTuple):
    """One key whose value differs: ``stored`` is the saved run's, ``wanted`` the new config's."""

    key: str
    stored: Any
    wanted: Any


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys.

    >>> flatten({"solver": {"base_lr": 0.1, "steps": [0, 10]}})
    {'solver.base_lr': 0.1, 'solver.steps': [0, 10]}
    """
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[Difference]:
    """Every shared key (in sorted order) whose value differs between two JSON-form configs.

    >>> config_diff({"solver": {"base_lr": 0.1}}, {"solver": {"base_lr": 0.2, "gamma": 0.1}})
    [Difference(key='solver.base_lr', stored=0.1, wanted=0.2)]
    """
    old, new = flatten(stored), flatten(wanted)
    return [
        Difference(k, old[k], new[k]) for k in sorted(old.keys() & new.keys()) if old[k] != new[k]
    ]
