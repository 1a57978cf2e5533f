"""``benchmarks/tabs.py``'s control variant stays a copy of ``SessionState``'s shape.

The control (``benchmarks/tabs_app/tabs_app/shape.py``) is plain Reflex with ``SessionState``'s
vars, computed vars and sibling states and none of the library's code: its ratio against plain
Reflex is what the tree's shape costs, so it is only evidence while the shapes match. The file
is read, not imported: importing it would add its states to every tab of these tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import reflex as rx

import reflex_session.reflex.install  # noqa: F401 - every state the library adds, loaded
from reflex_session.reflex import SessionState
from reflex_session.reflex.devices import DevicesState
from reflex_session.reflex.forms import AuthFormState

SHAPE = Path(__file__).resolve().parents[2] / "benchmarks" / "tabs_app" / "tabs_app" / "shape.py"


def _classes() -> dict[str, ast.ClassDef]:
    tree = ast.parse(SHAPE.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _vars(node: ast.ClassDef) -> set[str]:
    return set(_declared(node))


def _declared(node: ast.ClassDef) -> dict[str, tuple[str, object]]:
    """Each var of the class: its annotation as written and its default's value."""
    return {
        s.target.id: (ast.unparse(s.annotation), ast.literal_eval(s.value) if s.value else None)
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


def _real(cls: type[rx.State], names: set[str]) -> dict[str, tuple[str, object]]:
    """The same for the library's state: its annotation, written as in the copy, and default."""
    fields = cls.get_fields()

    def written(t: object) -> str:
        return t.__name__ if isinstance(t, type) else repr(t).replace("typing.", "")

    return {n: (written(fields[n].annotated_type), fields[n].default_value()) for n in names}


def _computed(node: ast.ClassDef) -> set[str]:
    return {
        s.name
        for s in node.body
        if isinstance(s, ast.FunctionDef)
        and any(ast.unparse(d) == "rx.var" for d in s.decorator_list)
    }


def _own_fields(cls: type[rx.State], parent: type[rx.State]) -> set[str]:
    return set(cls.get_fields()) - set(parent.get_fields())


def test_the_parent_has_session_states_vars_and_computed_vars() -> None:
    shape = _classes()["SessionShape"]
    assert [ast.unparse(b) for b in shape.bases] == ["rx.State"]
    assert _vars(shape) == _own_fields(SessionState, rx.State)
    assert _declared(shape) == _real(SessionState, _vars(shape))  # same types and defaults
    assert _computed(shape) == set(SessionState.computed_vars)


@pytest.mark.parametrize(
    ("name", "real"), [("FormShape", AuthFormState), ("DevicesShape", DevicesState)]
)
def test_the_siblings_are_session_states_substates(name: str, real: type[rx.State]) -> None:
    node = _classes()[name]
    assert [ast.unparse(b) for b in node.bases] == ["SessionShape"]
    assert _vars(node) == _own_fields(real, SessionState)
    assert _declared(node) == _real(real, _vars(node))
    assert _computed(node) == set(real.computed_vars) - set(SessionState.computed_vars)


def test_every_substate_of_session_state_has_its_copy() -> None:
    """A state the library adds under ``SessionState`` must get its copy in the control."""
    library = {c for c in SessionState.get_substates() if c.__module__.startswith("reflex_session")}
    assert library == {AuthFormState, DevicesState}
    copies = {
        n for n, c in _classes().items() if [ast.unparse(b) for b in c.bases] == ["SessionShape"]
    }
    assert copies == {"FormShape", "DevicesShape"}
