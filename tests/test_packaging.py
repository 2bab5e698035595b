"""The three dependency lists (pyproject, environment.yml, requirements.lock) agree."""

from __future__ import annotations

import re
import tomllib

import yaml
from shared import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = _pyproject()
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {p for p in pip if not p.startswith("-e")} == declared
    assert "-e ." in pip


def test_lock_pins_every_declared_dependency():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[name.lower().replace("_", "-")] = version
    project = _pyproject()
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        assert _name(spec).replace("_", "-") in lock, spec
    # The pair that installs from local disk on the build machine, and PyAV for Python 3.11.
    assert (lock["torch"], lock["torchvision"], lock["av"]) == ("2.14.1", "0.29.1", "18.1.0")
    assert lock["pytorchvideo"] == "0.1.5"
