"""Where sessions live: the engine writes each verb once against :class:`Backend`.

* :class:`CookieBackend` — the whole session sealed in the cookie (optionally checked against a
  revocation list);
* :class:`StoreBackend` — the session in a :class:`~reflex_session.stores.SessionStore`, the
  cookie carrying only its id.
"""

from .base import Backend, Revocations
from .cookie import CookieBackend
from .store import StoreBackend

__all__ = ["Backend", "CookieBackend", "Revocations", "StoreBackend"]
