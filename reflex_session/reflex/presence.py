"""Which open tabs show which user: the per-process map that live revocation reads.

``SessionState`` records a tab in the installed runtime's map whenever it shows a session and
forgets it when the tab's user changes; :mod:`.live` reads it to find the tabs to sign out or
refresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["TabRegistry"]


class TabRegistry:
    """User id -> the client tokens of the tabs showing that user's session (bounded)."""

    def __init__(self, max_tabs_per_user: int = 64) -> None:
        self._tabs: dict[str, OrderedDict[str, None]] = {}
        self._max = max_tabs_per_user
        self._lock = threading.Lock()

    def add(self, user_id: str, token: str) -> None:
        """Record that tab ``token`` shows ``user_id``'s session, as that user's newest tab.

        Past ``max_tabs_per_user`` the oldest tab is forgotten, so memory stays bounded however many
        tabs are opened; a forgotten tab only misses the live push, and its next guarded event is
        still checked against the store.
        """
        if not token:
            return
        with self._lock:
            tabs = self._tabs.setdefault(user_id, OrderedDict())
            tabs[token] = None
            tabs.move_to_end(token)
            while len(tabs) > self._max:
                tabs.popitem(last=False)

    def remove(self, user_id: str, token: str) -> None:
        """Forget one tab of ``user_id`` (its user changed, or it is gone)."""
        with self._lock:
            tabs = self._tabs.get(user_id)
            if tabs is not None:
                tabs.pop(token, None)
                if not tabs:
                    del self._tabs[user_id]

    def tokens(self, user_id: str) -> list[str]:
        """The client tokens of ``user_id``'s tabs, oldest first (a copy, safe to iterate)."""
        with self._lock:
            return list(self._tabs.get(user_id, ()))
