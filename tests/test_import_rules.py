"""The import rules of docs/architecture.md, read from every module's imports (including ones
inside functions): the core stands alone on NumPy and the standard library; training and the
service both stand on it and never on each other; no package's modules import each other in a circle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def imported_packages(package: str) -> dict[str, set[str]]:
    """Module path -> top-level names it imports, for every .py file of `package`."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO_ROOT))] = names
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("service", {"training"}),
    ("training", {"service"}),
    ("neuralnet", {"service", "training"}),
])
def test_packages_do_not_import_what_they_must_not(package: str, forbidden: set[str]) -> None:
    modules = imported_packages(package)
    assert modules, f"no modules found in {package}/"
    bad = {module: sorted(names & forbidden) for module, names in modules.items() if names & forbidden}
    assert not bad, f"{package}/ imports {sorted(forbidden)}: {bad}"


def test_core_needs_only_numpy_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "neuralnet", "__future__"}
    bad = {module: sorted(names - allowed) for module, names in imported_packages("neuralnet").items()
           if names - allowed}
    assert not bad, f"neuralnet/ imports outside NumPy and the standard library: {bad}"


def test_training_and_service_both_stand_on_the_core() -> None:
    for package in ("training", "service"):
        users = [m for m, names in imported_packages(package).items() if "neuralnet" in names]
        assert users, f"{package}/ does not import the core"


def module_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same repository it imports (`from a.b import c` counts a.b.c
    when c is a module), for every .py file of `package`."""
    def module_name(path: Path) -> str:
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def exists(name: str) -> bool:
        base = REPO_ROOT.joinpath(*name.split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()

    graph: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if exists(alias.name)}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and exists(node.module):
                subs = {f"{node.module}.{alias.name}" for alias in node.names}
                targets |= {sub for sub in subs if exists(sub)} or {node.module}
                if any(not exists(sub) for sub in subs):
                    targets.add(node.module)
        graph[module_name(path)] = targets - {module_name(path)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


@pytest.mark.parametrize("package", ["neuralnet", "training", "service"])
def test_no_import_circle_inside_a_package(package: str) -> None:
    graph = module_graph(package)
    assert len(graph) > 3
    cycle = find_cycle({m: {t for t in targets if t.startswith(package)} for m, targets in graph.items()})
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_the_old_training_circle() -> None:
    graph = {"training.train": {"training.report"}, "training.report": {"training.evaluate"},
             "training.evaluate": {"training.train", "training.data"}, "training.data": set()}
    circle = ["training.evaluate", "training.train", "training.report", "training.evaluate"]
    assert find_cycle(graph) == circle
    graph["training.evaluate"].discard("training.train")
    assert find_cycle(graph) is None


def test_import_checker_sees_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a function-level `from training...` import in a service module is found."""
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "x.py").write_text("def f():\n    from training.data import load_mnist\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    with pytest.raises(AssertionError, match="training"):
        test_packages_do_not_import_what_they_must_not("service", {"training"})


@pytest.mark.parametrize("layer", ["service.codecs", "service.models", "service.dataplane", "service.errors",
                                   "service.metrics"])
def test_only_the_protocol_layer_imports_the_http_layer(layer: str) -> None:
    """Codecs, models and the data plane raise ServiceError and never import `service.api`: only the
    protocol layers render errors and answers."""
    graph = module_graph("service")
    bad = {module: sorted(t for t in targets if t.startswith("service.api"))
           for module, targets in graph.items()
           if (module == layer or module.startswith(layer + ".")) and any(
               t.startswith("service.api") for t in targets)}
    assert not bad, f"{layer} imports the HTTP layer: {bad}"
