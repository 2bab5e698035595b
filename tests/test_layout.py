"""The package's shape: small modules, short functions, no import circle, data flowing one way.

Read from the source with ``ast`` (nothing is imported), so a change that breaks a rule fails
here with the module and line at fault rather than in review.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
from shared import ROOT

PACKAGE = ROOT / "replication"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80
# Each volatile third-party library enters through the module(s) named here, and nowhere else.
GATES = {
    "pytorchvideo": {"replication.model.builders"},
    "fvcore": {"replication.model.fvcore_bridge"},
    "submitit": {"replication.cluster.jobs"},
    "av": {"replication.data.video_io"},
    "jinja2": {"replication.results.report"},
    "markupsafe": {"replication.results.report"},
    "matplotlib": {"replication.results.plots", "replication.results.figures"},
    "seaborn": {"replication.results.plots", "replication.results.figures"},
}
# Subpackages in data-flow order; a stage may import earlier stages only (io and the schedule's
# records are shared files, not stages). bench and the CLIs sit on top and may import anything.
ORDER = ["config", "schedule", "io", "data", "model", "engine", "cluster", "workflow", "results"]
NEVER = {"results": {"engine", "cluster", "data", "model"}, "workflow": {"engine", "cluster"}}
# ... except these: the workflow checks a plan's SLURM profiles against its runs and the
# cluster's nodes before any job starts; those two modules describe resources (no submitit).
EXCEPT = {"workflow": {"replication.cluster.profile", "replication.cluster.nodes"}}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = _modules()


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) of every import, top-level or inside functions."""
    out = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
            out += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return out


def _internal_graph() -> dict[str, set[str]]:
    graph = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in _imports(path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def test_no_module_over_400_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: c for n, c in long.items() if c > MAX_MODULE_LINES} == {}


def test_no_function_over_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({path.name}:{node.lineno}): {lines} lines")
    assert long == []


def test_no_import_circle():
    graph, seen, stack, cycles = _internal_graph(), set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            cycles.append([*stack[stack.index(node) :], node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for target in sorted(graph[node]):
            visit(target)
        stack.pop()

    for module in sorted(graph):
        visit(module)
    assert cycles == []


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ORDER) else None


@pytest.mark.parametrize("stage", ORDER)
def test_stages_import_only_earlier_stages(stage):
    allowed = set(ORDER[: ORDER.index(stage) + 1]) | {"io"}
    wrong = []
    for name, path in MODULES.items():
        if _stage(name) != stage:
            continue
        for target, line in _imports(path):
            other = _stage(target) if target.startswith("replication.") else None
            if any(target == m or target.startswith(f"{m}.") for m in EXCEPT.get(stage, ())):
                continue
            if other in ORDER and (other not in allowed or other in NEVER.get(stage, ())):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == []


def test_config_is_a_leaf():
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {target}"
             for name, p in MODULES.items() if name.startswith("replication.config")
             for target, line in _imports(p)
             if target.startswith("replication.") and not target.startswith("replication.config")]  # fmt: skip
    assert wrong == []


@pytest.mark.parametrize("library", sorted(GATES))
def test_each_volatile_library_enters_through_its_gate(library):
    users = {name for name, path in MODULES.items()
             for target, _ in _imports(path) if target.split(".")[0] == library}  # fmt: skip
    assert users <= GATES[library], f"{library} imported outside {GATES[library]}: {users}"
    assert users, f"nothing imports {library}: update GATES"
