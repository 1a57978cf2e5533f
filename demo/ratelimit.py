"""Failed-login limits per account and per client address (sliding window, injectable clock).

In-process by design for the demo; a deployment with several workers would keep the counters
in Redis (issue 7 covers that setup).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class LoginRateLimiter:
    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self._failures[key]
        while entries and now - entries[0] >= self.window:
            entries.popleft()
        return entries

    def retry_after(self, account: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in (
                (f"a:{account}", self.per_account),
                (f"i:{address}", self.per_address),
            ):
                entries = self._recent(key, now)
                if len(entries) >= limit:
                    waits.append(entries[0] + self.window - now)
            return math.ceil(max(waits)) if waits else 0

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._failures[f"a:{account}"].append(now)
            self._failures[f"i:{address}"].append(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(f"a:{account}", None)
