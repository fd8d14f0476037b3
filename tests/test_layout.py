"""The package's import graph, read from the source (imports inside functions included)."""

import ast
from pathlib import Path

import bachata_sep

PACKAGE = Path(bachata_sep.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name in paths}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + [node.module or ""]) if node.level else node.module
                target = target.rstrip(".")
                for alias in node.names:
                    module = f"{target}.{alias.name}"
                    imported.add(module if module in paths else target)
        graph[name] = {module for module in imported if module in paths and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles found by a depth-first walk: each as the modules along it."""
    found, done, path = [], set(), []

    def visit(module: str) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
        elif module not in done:
            path.append(module)
            for imported in sorted(graph[module]):
                visit(imported)
            path.pop()
            done.add(module)

    for module in sorted(graph):
        visit(module)
    return found


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b", "a"]]


def test_imports_flow_one_way():
    graph = import_graph()
    assert graph["bachata_sep.pretrained"] >= {"bachata_sep.model"}
    assert cycles(graph) == []


def test_training_evaluation_and_publishing_stay_in_their_subpackage():
    """Only the ``train``, ``evaluate`` and ``push`` commands reach ``bachata_sep.train``
    (through the CLI's table of command modules), and the digits proof of concept, which
    trains and evaluates too; separating never loads it."""
    graph = import_graph()
    trainers = ("bachata_sep.train", "bachata_sep.digits")
    outside = {
        module: sorted(imported)
        for module, imported in graph.items()
        if not module.startswith(trainers)
        and any(name.startswith("bachata_sep.train.") for name in imported)
    }
    assert outside == {}
    assert "bachata_sep.train.train" in graph
