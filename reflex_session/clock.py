"""Time, injected.

Every expiry rule in reflex-session asks a :class:`Clock` for the time instead of calling
:func:`time.time` itself. Production code uses :data:`SYSTEM_CLOCK`; tests pass a
:class:`reflex_session.testing.FakeClock` and move it forward, so an expiry of a week is tested
in microseconds and never with ``sleep``.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "now_ms"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current Unix time in (fractional) seconds."""

    def time(self) -> float:
        """The current Unix time in seconds."""


class SystemClock:
    """The wall clock (:func:`time.time`)."""

    __slots__ = ()

    def time(self) -> float:
        """The current Unix time, from :func:`time.time`.

        The wall clock, not a monotonic one: expiries are absolute Unix times, shared with the
        browser and with other workers.
        """
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()


def now_ms(clock: Clock) -> int:
    """The clock's time as integer Unix milliseconds, the unit of the session's timestamps."""
    return int(clock.time() * 1000)
