"""Helpers for testing code that uses reflex-session (yours and ours).

:class:`FakeClock` is the clock to inject into :class:`reflex_session.ReflexSession` so that
expiry can be tested without sleeping::

    clock = FakeClock()
    auth = ReflexSession(secret_key=..., session_expiry=60, clock=clock)
    ...
    clock.advance(61)   # the session is now expired
"""

from __future__ import annotations

__all__ = ["FakeClock"]

#: 2026-01-01T00:00:00Z — a fixed, recognisable start so test output is reproducible.
DEFAULT_START = 1_767_225_600.0


class FakeClock:
    """A clock that only moves when told to."""

    __slots__ = ("_now",)

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)

    def time(self) -> float:
        """The time the clock was last set or advanced to."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward (or backward, with a negative value, to simulate skew)."""
        self._now += seconds

    def set(self, timestamp: float) -> None:
        """Jump to an absolute Unix time (e.g. exactly a session's expiry, to test the boundary)."""
        self._now = float(timestamp)

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
