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
MAX_LINES = 400
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


@pytest.mark.parametrize("path", _modules(PACKAGE), ids=_relative)
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_relative(path)} has {lines} lines; split it along its story"


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports(path: Path, known: set[str], root: Path = PACKAGE) -> set[str]:
    """The package modules ``path`` imports, at any depth (inside functions and TYPE_CHECKING blocks too).

    ``from a.b import c`` is an import of ``a.b.c`` when that is a module, else of ``a.b``;
    relative imports are resolved against the importing module's package.
    """
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return {module for module in found if module in known and module != name}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {_module_name(path, root): path for path in _modules(root)}
    known = set(modules)
    return {name: _package_imports(path, known, root) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (first == last), or [] when there is none."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for following in sorted(graph.get(node, ())):
            if state.get(following) == 1:
                return stack[stack.index(following):] + [following]
            if following not in state and (cycle := visit(following)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycle_in_the_package():
    """Imports inside functions count: a cycle there still ties two layers into one."""
    cycle = find_cycle(import_graph())
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_prefect_is_imported_only_in_the_orchestration_layer():
    importers = [
        _relative(path) for path in _modules(PACKAGE)
        if "prefect" in _imported_roots(path) and "orchestration" not in path.relative_to(PACKAGE).parts
    ]
    assert importers == []


@pytest.mark.slow
def test_the_built_wheel_holds_the_product_and_no_harness(tmp_path):
    """``pip wheel .`` builds what users install: the package, nothing of the scenario suite or the benchmarks."""
    import subprocess
    import sys
    import zipfile

    root = PACKAGE.parent
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(root)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("plateau_doctor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = [name for name in names if name.endswith(".py")]
    assert "plateau_doctor/engine/diagnosis.py" in modules and "plateau_doctor/cli.py" in modules
    assert [m for m in modules if not m.startswith("plateau_doctor/")] == []
    harness = {path.stem for path in (root / "harness").glob("*.py")}
    assert [m for m in modules if Path(m).stem in harness] == [], "harness modules in the wheel"


def test_the_shape_checks_can_fail(tmp_path):
    """The checks see what they look for: a cause name in a stray file, a framework import at any depth."""
    stray = tmp_path / "stray.py"
    stray.write_text('def f():\n    import keras\n    return "dead_relu"\n', encoding="utf-8")
    assert "keras" in _imported_roots(stray)
    assert _cause_literals_out_of_place(stray) == [f"{stray}:3: 'dead_relu'"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f():\n    from pkg import two\n")
    (package / "two.py").write_text("from .one import f\n")
    assert find_cycle(import_graph(package)) == ["pkg.one", "pkg.two", "pkg.one"]
