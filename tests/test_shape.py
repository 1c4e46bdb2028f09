"""The package's shape, read from its source with ``ast``: no import needed, nothing trained.

Each rule is its own test function, so that a failure names the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from plateau_doctor import schema

PACKAGE = Path(__file__).resolve().parents[1] / "plateau_doctor"
ENGINE = PACKAGE / "engine"
MAX_ENGINE_LINES = 400
BACKENDS = ("prefect", "keras", "tensorflow", "jax", "torch", "optuna")
SCHEMA_NAME_DEFINITIONS = ("CAUSES", "OVERFITTING")
"""The assignments of ``schema.py`` that define the names: the contract's list of causes, and
the symptom that shares a cause's name."""


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix() if path.is_relative_to(PACKAGE.parent) else str(path)


def _defining_literals(tree: ast.Module) -> set[int]:
    """Ids of the string constants inside schema's defining assignments."""
    found: set[int] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(target, ast.Name) and target.id in SCHEMA_NAME_DEFINITIONS for target in targets):
            found.update(id(child) for child in ast.walk(node))
    return found


def _cause_literals_out_of_place(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = _defining_literals(tree) if path == PACKAGE / "schema.py" else set()
    own = path.stem if path.parent == ENGINE / "causes" else None
    return [
        f"{_relative(path)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in schema.CAUSES and node.value != own and id(node) not in allowed
    ]


def _imported_roots(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth (inside functions too)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_a_cause_name_is_written_only_in_its_own_cause_file():
    """A cause is named (as a string) in ``engine/causes/<name>.py`` and nowhere else in the
    package: other code asks the registry for a property instead of comparing names."""
    misplaced = [line for path in _modules(PACKAGE) for line in _cause_literals_out_of_place(path)]
    assert misplaced == [], "cause names outside their own file:\n" + "\n".join(misplaced)


def test_every_cause_has_its_own_file():
    assert sorted(path.stem for path in (ENGINE / "causes").glob("*.py") if path.stem in schema.CAUSES) == sorted(
        schema.CAUSES
    )


@pytest.mark.parametrize("path", _modules(ENGINE), ids=_relative)
def test_engine_modules_import_no_framework(path):
    """The engine is pure: no orchestration, no training backend, no Optuna (``run.search`` runs it)."""
    assert _imported_roots(path).isdisjoint(BACKENDS), sorted(_imported_roots(path) & set(BACKENDS))


def test_optuna_is_imported_only_by_the_search_runner():
    importers = [_relative(path) for path in _modules(PACKAGE) if "optuna" in _imported_roots(path)]
    assert importers == ["plateau_doctor/run/search.py"]


@pytest.mark.parametrize("path", _modules(ENGINE), ids=_relative)
def test_no_engine_module_is_over_400_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_ENGINE_LINES, f"{_relative(path)} has {lines} lines; split it along its story"


def test_the_shape_checks_can_fail(tmp_path):
    """The checks see what they look for: a cause name in a stray file, a framework import at any depth."""
    stray = tmp_path / "stray.py"
    stray.write_text('def f():\n    import keras\n    return "dead_relu"\n', encoding="utf-8")
    assert "keras" in _imported_roots(stray)
    assert _cause_literals_out_of_place(stray) == [f"{stray}:3: 'dead_relu'"]
