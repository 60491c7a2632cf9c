"""The house rules, measured: module and function sizes, import direction, no private names across modules.

These are the limits docs/ARCHITECTURE.md states; a change that breaks one fails here with the place
to fix. ``python tests/test_house.py`` prints the figures (largest modules and functions, cycles).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lmprog"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_sizes() -> list[tuple[str, int]]:
    return sorted(((name, len(path.read_text(encoding="utf-8").splitlines())) for name, path in _modules().items()),
                  key=lambda item: -item[1])


def function_sizes() -> list[tuple[str, int]]:
    sizes = []
    for name, path in _modules().items():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                sizes.append((f"{name}.{node.name} (line {node.lineno})", node.end_lineno - node.lineno + 1))
    return sorted(sizes, key=lambda item: -item[1])


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports() -> dict[str, list[tuple[str, str, int]]]:
    """module -> [(imported module, imported name or '', line)] for lmprog's own modules."""
    modules = _modules()
    out: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("lmprog"):
                        out[name].append((alias.name, "", node.lineno))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, is_package)
                if not target.startswith("lmprog"):
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in modules:
                        out[name].append((full, "", node.lineno))
                    else:
                        out[name].append((target, alias.name, node.lineno))
    return out


def _edges() -> dict[str, set[str]]:
    """Import edges between lmprog modules, wherever the import is (imports under TYPE_CHECKING and
    the root package's re-exports excepted: those are not a dependency)."""
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        if name == "lmprog":
            continue
        is_package = path.name == "__init__.py"
        for node in _walk_skipping_type_checking(_tree(path)):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, node, is_package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                if target in modules and target not in (name, "lmprog"):
                    edges[name].add(target)
    return edges


def _walk_skipping_type_checking(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        yield from _walk_skipping_type_checking(node)


def cycles() -> list[list[str]]:
    """Import cycles between lmprog modules (a package importing its own modules is fine)."""
    edges = _edges()
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(_modules()):
        if node not in state:
            visit(node)
    return found


def private_imports() -> list[str]:
    """A ``_name`` imported from another module, or a private ``_module`` imported from outside its package.

    Inside a package, its private modules are shared (that is what a package is for); a private
    name inside a module stays in that module.
    """
    bad = []
    for module, targets in imports().items():
        for target, name, line in targets:
            where = f"{module} line {line}: {target}{'.' + name if name else ''}"
            if name.startswith("_") and not name.endswith("__") and target != module:
                bad.append(where)
            elif any(p.startswith("_") and p != "__init__" for p in target.split(".")) \
                    and _package(module) != _package(target):
                bad.append(where)
    return bad


def private_library_imports() -> list[str]:
    """Private names of other libraries (``dspy._vendor``, ``x._private``) imported outside the one
    adapter module per library (``lmprog/**/*_compat.py``), which a test pins to the library's version."""
    bad = []
    for name, path in _modules().items():
        if name.endswith("_compat"):
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and not node.module.startswith("lmprog"):
                parts = node.module.split(".") + [a.name for a in node.names]
                if any(p.startswith("_") and not p.startswith("__") for p in parts):
                    bad.append(f"{name} line {node.lineno}: from {node.module} import "
                               + ", ".join(a.name for a in node.names))
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in _LIBRARY_ALIASES:
                bad.append(f"{name} line {node.lineno}: {node.value.id}.{node.attr}")
    return bad


_LIBRARY_ALIASES = {"dspy", "litellm", "sqlite_utils", "migrations", "bm25s", "sklearn", "skops", "ray", "cleanlab"}


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_module_over_the_limit():
    over = [(name, lines) for name, lines in module_sizes() if lines > MAX_MODULE_LINES]
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by job): {over}"


def test_no_function_over_the_limit():
    over = [(name, lines) for name, lines in function_sizes() if lines > MAX_FUNCTION_LINES]
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines: {over}"


def test_no_import_cycle():
    assert not cycles(), f"import cycles: {cycles()}"


def test_no_private_name_imported_across_modules():
    assert not private_imports(), "private names imported across modules: " + "; ".join(private_imports())


def test_private_library_names_only_in_adapters():
    assert not private_library_imports(), "private library names outside an adapter module: " + "; ".join(
        private_library_imports())


if __name__ == "__main__":
    print(f"{'module':<48} lines")
    for name, lines in module_sizes()[:12]:
        print(f"{name:<48} {lines}")
    print(f"\n{'function':<72} lines")
    for name, lines in function_sizes()[:12]:
        print(f"{name:<72} {lines}")
    print(f"\nimport cycles: {cycles() or 'none'}")
    print("private imports across modules:", *private_imports() or ["none"], sep="\n  ")
    print("private library names outside adapters:", *private_library_imports() or ["none"], sep="\n  ")
    sys.exit(0)
