"""Which open tabs show which user: the per-process map that live revocation reads.

``SessionState`` records a tab here whenever it shows a session and forgets it when the tab's
user changes; :mod:`.live` reads it to find the tabs to sign out or refresh. It is its own
module so that the state can record tabs without importing the push code (which opens states).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["REGISTRY", "TabRegistry"]


class TabRegistry:
    """User id -> the client tokens of the tabs showing that user's session (bounded)."""

    def __init__(self, max_tabs_per_user: int = 64) -> None:
        self._tabs: dict[str, OrderedDict[str, None]] = {}
        self._max = max_tabs_per_user
        self._lock = threading.Lock()

    def add(self, user_id: str, token: str) -> None:
        if not token:
            return
        with self._lock:
            tabs = self._tabs.setdefault(user_id, OrderedDict())
            tabs[token] = None
            tabs.move_to_end(token)
            while len(tabs) > self._max:
                tabs.popitem(last=False)

    def remove(self, user_id: str, token: str) -> None:
        with self._lock:
            tabs = self._tabs.get(user_id)
            if tabs is not None:
                tabs.pop(token, None)
                if not tabs:
                    del self._tabs[user_id]

    def tokens(self, user_id: str) -> list[str]:
        with self._lock:
            return list(self._tabs.get(user_id, ()))


REGISTRY = TabRegistry()
