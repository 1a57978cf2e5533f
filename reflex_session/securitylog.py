"""Rate-limited security warnings: an attacker's flood of refused requests cannot flood the log.

Every refusal the Reflex and HTTP layers make (an event from a socket without the tab's binding,
a sync from another browser, a cross-site websocket) is worth one line to an operator, but
each costs the attacker one request. So lines go through :func:`refused`, which lets at most
``per_second`` through each second and then says how many it held back. The lines carry a
reason, never a token, a cookie or a payload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RefusalLog", "refused"]

security_log = logging.getLogger("reflex_session.security")


class RefusalLog:
    """At most ``per_second`` warnings a second on ``logger``; ``clock`` is injectable."""

    def __init__(
        self,
        per_second: int = 20,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = security_log,
    ) -> None:
        self.per_second = per_second
        self._clock = clock
        self._logger = logger
        self._lock = threading.Lock()
        self._window = 0
        self._count = 0
        self._suppressed = 0

    def refused(self, message: str, *args: Any) -> None:
        """Log one refusal as a warning, unless this second's quota is spent.

        The count of lines held back is written when the next refusal arrives in a later second, not
        by a timer, so the log needs no thread of its own.
        """
        if not self._logger.isEnabledFor(logging.WARNING):
            return
        with self._lock:
            window = int(self._clock())
            if window != self._window:
                held, self._suppressed = self._suppressed, 0
                self._window, self._count = window, 0
                if held:
                    self._logger.warning("%d more refusals not logged", held)
            self._count += 1
            if self._count > self.per_second:
                self._suppressed += 1
                return
        self._logger.warning(message, *args)


#: The process-wide one the library's refusals go through.
refused = RefusalLog().refused
