"""A moment shown in the user's own time zone, formatted by the browser (the server does not
know the zone): ``local_time.js`` (React glue) over ``local_time_core.js`` (plain functions,
unit-tested in tests/js), linked into the app with ``rx.asset(shared=True)`` as the library
links its session client (reflex_session/reflex/client.py)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import reflex as rx
from reflex_base.vars.base import Var


@functools.cache
def _linked_module(cwd: str) -> str:
    """Link both files into the app compiled in ``cwd`` (once per folder); the import path."""
    del cwd  # the cache key: rx.asset links into the current folder
    rx.asset("local_time_core.js", shared=True)
    return rx.asset("local_time.js", shared=True).importable_path


class LocalTime(rx.Component):
    """``<time dateTime="...Z">Sun, Dec 6, 9:05 PM GMT+9 (in 8 hours)</time>``."""

    tag = "DemoLocalTime"

    #: milliseconds since the epoch (0: nothing shown)
    timestamp: Var[int]

    def add_imports(self) -> dict[str, Any]:
        return {_linked_module(str(Path.cwd())): [rx.ImportVar(tag=self.tag)]}


def local_time(timestamp: Var[int] | int, **props: Any) -> rx.Component:
    component: rx.Component = LocalTime.create(timestamp=timestamp, **props)
    return component
