"""Reading an experiment config: YAML, ``key=value`` overrides, validation with one-line errors.

Every failure is a :class:`~replication.config.errors.ConfigError` naming the file (or ``--set``
override) and the key. What only shows once the multigrid schedule is computed (a batch that
sub-batch BN cannot split, a shape larger than the base) is checked by
:func:`replication.schedule.build_schedule`, which every command that runs a config calls first;
this package stays a leaf that imports nothing else of the suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel

from replication.config.errors import ConfigError, from_validation_error, unknown_key_message
from replication.config.rules import check_invariants
from replication.config.sections import RunConfig


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$|^[-+]?\d[\d_]*\.\d*$|^[-+]?\.\d+$"),
    list("-+0123456789."),
)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a config file into a dict (empty file: no overrides), or raise ConfigError."""
    if not path.is_file():
        raise ConfigError("", "no such config file", str(path))
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError("", f"invalid YAML: {where}{problem}", str(path)) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise ConfigError("", f"top level must be a mapping of sections, got {kind}", str(path))
    return raw


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` into the dotted key and its YAML-parsed value.

    >>> parse_override("solver.max_epoch=30")
    ('solver.max_epoch', 30)
    >>> parse_override("solver.steps=[0, 10, 20]")
    ('solver.steps', [0, 10, 20])
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("", f"override must look like section.key=value, got {text!r}", "--set")
    try:
        parsed = yaml.load(value, Loader=_Loader)
    except yaml.YAMLError:
        raise ConfigError(key, f"cannot parse value {value!r}", "--set") from None
    return key, parsed


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys.extend(_known_keys(sub, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    known = _known_keys(RunConfig)
    if key not in known:
        raise ConfigError(key, unknown_key_message(key, known), "--set")
    section, name = key.split(".", 1)
    node = raw.setdefault(section, {})
    if not isinstance(node, dict):
        raise ConfigError(section, "must be a mapping of keys")
    node[name] = value


def validate_config(raw: dict[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from a nested dict, raising the first problem as ConfigError."""
    try:
        cfg = RunConfig.model_validate(raw)
    except pydantic.ValidationError as err:
        raise from_validation_error(err.errors()[0], _known_keys(RunConfig)) from None
    check_invariants(cfg)
    return cfg


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML experiment config, apply ``key=value`` overrides and validate everything.

    Raises:
        ConfigError: naming the file (or ``--set``) and the key at fault.
    """
    path = Path(path)
    raw = read_yaml(path)
    for text in overrides:
        _apply_override(raw, *parse_override(text))
    with config_source(path, overrides):
        return validate_config(raw)


@contextmanager
def config_source(path: str | Path, overrides: Iterable[str] = ()) -> Iterator[None]:
    """Name ``path`` (and the ``--set`` override, if it set the key) in ConfigErrors raised inside.

    For checks that run after loading, such as :func:`replication.schedule.build_schedule`::

        cfg = load_config(path, overrides)
        with config_source(path, overrides):
            schedule = build_schedule(cfg)
    """
    overridden = {text.partition("=")[0].strip() for text in overrides}
    try:
        yield
    except ConfigError as err:
        source = f"{path} (--set {err.key})" if err.key in overridden else str(path)
        raise err.with_source(source) from None
