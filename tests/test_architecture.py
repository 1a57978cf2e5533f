"""The house rules of ``reflex_session``, checked on its source so they cannot quietly erode.

* imports point one way: the core never imports Reflex, the Reflex layer or the HTTP layer
  (``auth.py``, the facade that offers ``handlers()`` and ``middleware()``, may use HTTP);
* no import cycles, counting imports placed inside functions (they only hide a cycle);
* no module reads or writes another module's private members (``obj._name`` where ``_name``
  is defined in another of our modules), and nothing private is imported across modules;
* no JavaScript or Lua inside a ``.py`` file;
* every public definition has a docstring.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reflex_session"
LAYERS = ("reflex_session.reflex", "reflex_session.http")
FACADES = {"reflex_session.auth"}  # may import the HTTP layer (never the Reflex layer)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:``: annotations only, never run, so not real imports."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _imports(name: str) -> list[tuple[str, int]]:
    """The modules ``name`` imports at run time (anywhere in the file), with line numbers."""
    tree = TREES[name]
    skipped = _type_checking_nodes(tree)
    is_package = MODULES[name].name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            # ``from . import wire`` imports the module wire, not the package's __init__ body
            targets = subs if len(subs) == len(node.names) else [target, *subs]
            found.extend((t, node.lineno) for t in targets)
    return found


def _is_core(name: str) -> bool:
    return not any(name == layer or name.startswith(layer + ".") for layer in LAYERS)


def test_the_rules_see_every_module_and_import() -> None:
    """The checks below prove something only if they read the real import graph."""
    assert len(MODULES) > 40
    engine = {t for t, _ in _imports("reflex_session.engine")}
    assert {"reflex_session.backends.base", "reflex_session.wire"} <= engine
    # a relative import from a package's __init__ resolves inside that package
    assert "reflex_session.reflex.state" in {t for t, _ in _imports("reflex_session.reflex")}
    # an import inside a function counts
    assert "reflex_session.http.handlers" in {t for t, _ in _imports("reflex_session.auth")}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_core(n)))
def test_the_core_never_imports_reflex_or_the_layers(name: str) -> None:
    bad = []
    for target, line in _imports(name):
        if target.split(".")[0] in ("reflex", "reflex_base") or target.startswith(
            "reflex_session.reflex"
        ):
            bad.append((target, line))
        if target.startswith("reflex_session.http") and name not in FACADES:
            bad.append((target, line))
    assert bad == [], f"{name} reaches up into a layer: {bad}"


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name in MODULES:
        graph[name] = {t for t, _ in _imports(name) if t in MODULES and t != name}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in MODULES:
        if name not in index:
            visit(name)
    assert cycles == []


def _private_names_by_module() -> dict[str, set[str]]:
    """``_name``s each module defines: functions, classes, class attributes, ``self._x``."""
    defined: dict[str, set[str]] = defaultdict(set)
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.append(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found.append(node.target.id)
            elif isinstance(node, ast.Assign):
                found.extend(t.id for t in node.targets if isinstance(t, ast.Name))
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
                and isinstance(node.ctx, ast.Store)
            ):
                found.append(node.attr)
            defined[name].update(n for n in found if n.startswith("_") and not n.startswith("__"))
    return defined


def test_no_module_reaches_into_another_modules_private_members() -> None:
    defined = _private_names_by_module()
    ours_elsewhere = {
        name: set().union(*(d for other, d in defined.items() if other != name)) - defined[name]
        for name in MODULES
    }
    bad = []
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                privately = [
                    a.name
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
                if privately:
                    bad.append((name, node.lineno, f"imports {privately}"))
            elif (
                isinstance(node, ast.Attribute)
                and node.attr in ours_elsewhere[name]
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                bad.append((name, node.lineno, ast.unparse(node)))
    assert bad == []


#: Fragments that only JavaScript or Lua contain, never our Python.
FOREIGN = re.compile(
    r"useEffect\(|\)\s*=>\s*[{(]|\bconst \w+ = |\bwindow\.\w|redis\.call\(|^\s*local \w+ =",
    re.MULTILINE,
)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_javascript_or_lua_inside_python(name: str) -> None:
    strings = [
        node.value
        for node in ast.walk(TREES[name])
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    hits = [s[:60] for s in strings if FOREIGN.search(s)]
    assert hits == [], f"{name} carries code of another language in a string: {hits}"


def _undocumented(name: str) -> list[str]:
    """Public classes, functions and methods of ``name`` without a docstring."""
    missing: list[str] = []

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("_") or any(
                ast.unparse(d) in ("overload", "typing.overload")
                or ast.unparse(d).endswith(".setter")
                for d in node.decorator_list
            ):
                continue
            if ast.get_docstring(node) is None:
                missing.append(f"{prefix}{node.name} (line {node.lineno})")
            if isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")

    walk(TREES[name].body, "")
    return missing


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_public_definition_says_why_it_exists(name: str) -> None:
    assert _undocumented(name) == []
