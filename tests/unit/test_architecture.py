"""The house's shape (issue "One house"): layers run one way, no import circles, small modules.

The layer order itself is the import-linter contract in pyproject.toml (CI runs ``lint-imports``); this test
runs it too, and adds what a layers contract cannot say: no circle between any two modules, local (function
level) imports included, and the size rules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nalu_cli"


def test_import_contract_holds() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circles_local_imports_included() -> None:
    graph = grimp.build_graph("nalu_cli")  # grimp reads every import statement, function-level ones too
    assert _cycles(graph) == []


def test_a_planted_circle_is_found() -> None:
    """The circle finder itself can fail: a graph with a → b → a is reported."""
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_few_top_level_modules_none_large() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 600} == {}


def test_every_module_has_a_docstring() -> None:
    import ast

    missing = [str(p) for p in PACKAGE.rglob("*.py") if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert missing == []


def test_python_m_runs_the_cli() -> None:
    for module in ("nalu_cli", "nalu_cli.cli"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "inspect-weights" in done.stdout and "Usage:" in done.stdout


# Where a task kind's name may be compared with: each kind's own module (found from the registry, so a new kind's
# module counts), the kind interface and its registry, the model registry and the recipe book's pages.
KIND_MODULES = {
    "names.py",
    "tasks/kind.py",
    "tasks/registry.py",
    "models/registry.py",
    "config/recipes.py",
    "config/kinds.py",
}


def _kind_modules() -> set[str]:
    from nalu_cli.tasks.registry import KINDS

    own = {type(kind).__module__.removeprefix("nalu_cli.").replace(".", "/") + ".py" for kind in KINDS.values()}
    return KIND_MODULES | own


def _kind_branches(source: str, kinds: set[str]) -> list[int]:
    """Lines that compare something with a kind's name (``mode == "digits"``, ``mode in ("pair", ...)``)."""
    import ast

    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        words: list[object] = []
        for side in (node.left, *node.comparators):
            if isinstance(side, ast.Constant):
                words.append(side.value)
            elif isinstance(side, (ast.Tuple, ast.List, ast.Set)):
                words += [e.value for e in side.elts if isinstance(e, ast.Constant)]
        if kinds & {w for w in words if isinstance(w, str)}:
            lines.append(node.lineno)
    return lines


def test_no_kind_branches_outside_the_kind_modules() -> None:
    from nalu_cli.tasks.registry import KINDS

    found, allowed = {}, _kind_modules()
    assert {"tasks/arithmetic.py", "tasks/recurrent.py", "tasks/digits.py"} <= allowed
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name not in allowed and (lines := _kind_branches(path.read_text(), set(KINDS))):
            found[name] = lines
    assert found == {}


def test_a_planted_kind_branch_is_found() -> None:
    assert _kind_branches('if config.task.mode == "digits":\n    pass\n', {"digits"}) == [1]
    assert _kind_branches('ok = mode in ("pair", "static")\n', {"pair", "static"}) == [1]
    assert _kind_branches("if kind.sequences:\n    pass\n", {"pair"}) == []
