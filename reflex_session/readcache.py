"""Store reads kept in this process until a change is announced (store mode, opt-in).

Why: in store mode every request and every guarded event reads the session from the store, and
that read is what made store mode cost 1.2-5x cookie mode (benchmarks/stores.py). A cookie
cache (better-auth's answer) trades that for revocation that waits minutes (better-auth#6893).
Here a read is kept only until the session *changes*, and every change is announced:

* in this process, by the backend itself, at once (logout, end session, sign out everywhere, a
  user update, a login that replaces a session, a back-channel logout, a revoked grant);
* to the other workers over the Redis relay the Reflex layer runs (``install``): each drops its
  copy when the message arrives (well under a second, like the live push of a revocation).

Fail closed: while the relay is not connected the cache is off and empty (``enabled`` is set by
the layer that knows), and it is emptied again on every reconnection, since messages sent
meanwhile were lost. A copy is also never older than ``ttl`` seconds: that bounds what a writer
this library does not see (another program writing the store directly) can leave stale.

A read that raced a change must not put back what the change just removed: every change bumps a
generation, and a read stores its result only if no change happened since it began.

What is kept is the store's own record (``StoredSession``), never a decoded cookie: the cookie
is still opened and checked on every request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from .stores.base import StoredSession

__all__ = ["ReadCache"]


class ReadCache:
    """A bounded map from session id to its stored record (see the module docstring)."""

    def __init__(
        self,
        *,
        size: int = 10_000,
        ttl: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # ``monotonic``: the age of a copy is measured on it (``ReflexSession`` passes its clock)
        self.size = size
        self.ttl = ttl
        self._now = monotonic
        self._entries: OrderedDict[str, tuple[StoredSession, float]] = OrderedDict()
        self._generation = 0
        #: whether reads may be answered from here. Off until the layer that knows how changes
        #: travel turns it on (``install()``: at once for one worker, when the relay subscribes
        #: for several), so a cache nobody announces changes to is never used
        self.enabled = False
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self) -> int:
        """Call before reading the store; pass the result to :meth:`put`."""
        return self._generation

    def get(self, sid: str) -> StoredSession | None:
        """The kept record of ``sid``, if enabled, present and younger than ``ttl``."""
        if not self.enabled:
            return None
        entry = self._entries.get(sid)
        age = self._now() - entry[1] if entry is not None else 0.0
        if entry is None or not 0 <= age <= self.ttl:  # a clock stepped back: stale too
            self.misses += 1
            return None
        self.hits += 1
        return entry[0]

    def put(self, sid: str, record: StoredSession, generation: int) -> None:
        """Keep ``record`` unless a change was announced since :meth:`begin` gave
        ``generation`` (the read may predate it) or the cache is off."""
        if not self.enabled or generation != self._generation:
            return
        self._entries[sid] = (record, self._now())
        self._entries.move_to_end(sid)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, sid: str) -> None:
        """``sid`` changed (or ended): drop it, and refuse reads that began before."""
        self._generation += 1
        self._entries.pop(sid, None)

    def forget_user(self, user_id: str) -> None:
        """Every session of ``user_id`` may have changed ("sign out everywhere", an update)."""
        self._generation += 1
        for sid in [s for s, (r, _) in self._entries.items() if r.user_id == user_id]:
            del self._entries[sid]

    def clear(self) -> None:
        """Drop everything (the relay reconnected: changes may have been missed)."""
        self._generation += 1
        self._entries.clear()
