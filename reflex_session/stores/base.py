"""The session store contract, shared by every backend.

In store mode the cookie carries only an opaque session id (``sid``); the session's data, its
owner and its expiry live in a :class:`SessionStore`. Three backends implement the contract:
:class:`~reflex_session.stores.memory.MemoryStore` (development only),
:class:`~reflex_session.stores.sql.SQLStore` (SQLite, PostgreSQL) and
:class:`~reflex_session.stores.redis.RedisStore`. One contract test suite runs over all of them
(tests/stores/test_store_contract.py: memory, SQLite, PostgreSQL, Redis).

Rules every backend follows:

* **The injected clock decides expiry.** A session whose ``expires_at`` is not after
  ``clock.time()`` is gone: ``get`` returns ``None``, ``touch`` and ``replace_data`` return
  ``False``, ``merge`` treats it as missing, ``list_for_user`` leaves it out. Backends with a
  native TTL (Redis) set one too, but only as garbage collection, computed from the same clock
  (:func:`gc_ttl`), so tests move a :class:`~reflex_session.testing.FakeClock` and never sleep.
* **Data is JSON.** ``data`` is a JSON object (a ``dict`` with string keys); it is stored as
  compact, ASCII-only JSON text, so every backend gives back exactly the same values (tuples come
  back as lists, as from any JSON round trip). NaN and infinities are refused.
* **The data verbs are atomic.** ``merge``, ``replace_data``, ``pluck`` and ``consume_csrf`` are
  each one indivisible step in every backend: 2 x 100 concurrent merges of distinct keys lose
  nothing, and of 50 concurrent consumers of one CSRF token exactly one wins.
* **"Sign out everywhere" is atomic.** ``destroy_for_user`` is one transaction (SQL), one script
  (Redis) or one hold of the lock (memory): a session that exists when it starts cannot survive.
* **Arguments are checked once**, by the public methods of :class:`SessionStore`, before any
  backend code runs: the same bad argument raises the same error on every backend.
* **Leases are exclusive.** ``acquire(key, owner, ttl)`` succeeds for exactly one caller while
  the lease is held and unexpired (Redis ``SET NX PX``, a SQL primary-key row written in one
  locking transaction, the memory store's lock); ``release`` frees it only for its owner. The
  provider-token refresh uses one so that a single tab of a single worker refreshes a grant, and
  the back-channel logout uses one per ``jti`` (the first use wins, a replay does not).
* **CSRF tokens are single use.** The store keeps only a digest of each token (the caller hashes
  it) with its own expiry; ``destroy`` and ``destroy_for_user`` remove a session's tokens.
"""

from __future__ import annotations

import abc
import json
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

from ..errors import SessionError
from ..session import deep_merge

__all__ = [
    "CSRF_LIMIT",
    "GC_SLACK",
    "SessionStore",
    "StoreUnavailable",
    "StoredSession",
    "check_data",
    "check_expires",
    "check_meta",
    "check_sid",
    "check_user_id",
    "decode_json",
    "decode_object",
    "deep_merge",
    "encode_json",
    "gc_ttl",
    "new_sid",
]

#: Seconds a native TTL (Redis) outlives the clock's expiry: the clock decides, the TTL only
#: collects garbage, so a little clock skew between app servers never ends a session early.
GC_SLACK: Final = 60

#: At most this many unexpired CSRF digests are kept per session; issuing one more drops the
#: one closest to its expiry. A page that asks for a fresh token on every render cannot grow a
#: session's token list without bound.
CSRF_LIMIT: Final = 100

#: Longest accepted session id, user id and token digest (they are column sizes in SQL).
MAX_ID_LENGTH: Final = 255


class StoreUnavailable(SessionError):
    """The session store cannot be reached (database or Redis down, refused, timed out).

    The message names the backend and where it is (never a password) and the driver's reason.
    The HTTP layer should answer 503: the session is not known to be gone, only unreachable.
    """

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        self.detail = detail
        super().__init__(f"the {backend} session store is unavailable: {detail}")


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One stored session, as :meth:`SessionStore.get` and ``list_for_user`` return it.

    Times are float Unix seconds from the store's clock. ``meta`` holds short strings about the
    device (for example ``user_agent`` and ``ip``) for a "your devices" page. ``data`` is a fresh
    ``dict`` on every read: changing it changes nothing in the store.

    The ``repr`` shows only the first characters of the id and never the data, so logging a
    session leaks neither.
    """

    sid: str
    user_id: str | None
    data: dict[str, Any]
    created_at: float
    touched_at: float
    expires_at: float
    meta: dict[str, str] = field(default_factory=dict)

    def is_live(self, now: float) -> bool:
        """Whether the session is still valid at ``now`` (it ends *at* ``expires_at``)."""
        return self.expires_at > now

    def __repr__(self) -> str:
        return (
            f"StoredSession(sid={self.sid[:6]!r}…, user_id={self.user_id!r}, "
            f"created_at={self.created_at!r}, touched_at={self.touched_at!r}, "
            f"expires_at={self.expires_at!r}, data_keys={len(self.data)})"
        )


class SessionStore(abc.ABC):
    """Where store-mode sessions live. Every method is a coroutine; see the module docstring.

    **Template method.** The public coroutines below are the contract callers use, and they are
    the only place arguments are checked: each one validates and normalises its arguments once
    (ids, JSON data as its stored text, expiry as a finite float) and then calls one protected
    hook (``_get``, ``_set``, ...) that a backend implements. So a bad argument raises the same
    exception with the same message on every backend, before any backend code runs, and a hook
    never sees an unchecked value. Backends implement the hooks and ``close`` (and may override
    :meth:`purge_expired`); they do not override the public methods.

    A store is also an async context manager that closes itself.
    """

    # -- the contract (public; validates, then calls the hook) --------------------------------

    async def get(self, sid: str) -> StoredSession | None:
        """The live session ``sid``, or ``None`` when it is missing or expired."""
        return await self._get(check_sid(sid))

    async def set(
        self,
        sid: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None,
        expires_at: float,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace session ``sid``.

        Replacing a live session keeps its ``created_at`` (and its ``meta`` when ``meta`` is
        ``None``); over a missing or expired one it starts a new session (``meta`` ``{}`` when
        ``None``). ``touched_at`` becomes now. A changed ``user_id`` moves the session from the
        old user's list to the new one's.
        """
        check_sid(sid)
        user = check_user_id(user_id)
        text = check_data(data)
        expires = check_expires(expires_at)
        await self._set(sid, text, user, expires, check_meta(meta))

    async def touch(self, sid: str, expires_at: float) -> bool:
        """Move the expiry to ``expires_at`` and ``touched_at`` to now; ``False`` if not live."""
        check_sid(sid)
        return await self._touch(sid, check_expires(expires_at))

    async def destroy(self, sid: str) -> None:
        """Remove the session and its CSRF tokens (nothing happens when it does not exist)."""
        await self._destroy(check_sid(sid))

    async def list_for_user(self, user_id: str) -> list[StoredSession]:
        """The user's live sessions, most recently touched first."""
        found = await self._list_for_user(check_user_id(user_id, optional=False) or "")
        # sorted here, once, so the order is the same whatever order a backend found them in
        found.sort(key=lambda s: s.touched_at, reverse=True)
        return found

    async def destroy_for_user(self, user_id: str, *, keep: Iterable[str] = ()) -> list[str]:
        """End all the user's sessions but those in ``keep``, atomically; return the ids of the
        live ones that ended. Expired leftovers are removed too but not returned.

        Atomic means: no session of the user that existed when the call began survives it
        (except those kept), even while other requests log the user in or out; a session
        created concurrently either ends too or was created after the call. This is "sign out
        everywhere", so a list-then-destroy loop (which misses a session created in between and
        costs one round trip per session) is not good enough. ``keep`` is a set, not one id,
        because one browser's session can span several records (store mode keeps a session's
        data beside it).
        """
        user = check_user_id(user_id, optional=False) or ""
        if isinstance(keep, str):
            raise TypeError("keep must be a collection of session ids, not one string")
        kept = frozenset(check_sid(sid, "keep") for sid in keep)
        return await self._destroy_for_user(user, kept)

    async def merge(
        self,
        sid: str,
        patch: Mapping[str, Any],
        *,
        create: bool = False,
        user_id: str | None = None,
        expires_at: float | None = None,
    ) -> dict[str, Any] | None:
        """Atomically deep-merge ``patch`` into the session's data and return the new data.

        Nested objects merge, every other value replaces (:func:`deep_merge`). When the session
        is missing or expired: ``None``, or, with ``create=True``, a new session whose data is
        the patch, owned by ``user_id`` and ending at ``expires_at`` (then required). On a live
        session ``user_id`` and ``expires_at`` are ignored: use ``set`` and ``touch`` for those.
        """
        check_sid(sid)
        text = check_data(patch, "patch")
        owner: tuple[str | None, float] | None = None
        if create:
            user = check_user_id(user_id)
            if expires_at is None:
                raise ValueError("merge(create=True) needs expires_at")
            owner = (user, check_expires(expires_at))
        return await self._merge(sid, text, owner)

    async def replace_data(self, sid: str, data: Mapping[str, Any]) -> bool:
        """Atomically replace the whole data, keeping owner and expiry; ``False`` if not live."""
        check_sid(sid)
        return await self._replace_data(sid, check_data(data))

    async def pluck(self, sid: str, key: str) -> Any:
        """Atomically remove the top-level ``key`` and return its value (``None`` if absent)."""
        check_sid(sid)
        if not isinstance(key, str):
            raise TypeError(f"key must be a string (a top-level data key), not {type(key)!r}")
        return await self._pluck(sid, key)

    async def add_csrf(self, sid: str, token_digest: str, expires_at: float) -> None:
        """Remember a CSRF token's digest for ``sid`` until ``expires_at``."""
        check_sid(sid)
        check_sid(token_digest, "token_digest")
        await self._add_csrf(sid, token_digest, check_expires(expires_at))

    async def consume_csrf(self, sid: str, token_digest: str) -> bool:
        """Atomically use up a token: ``True`` exactly once, for an issued, unexpired token."""
        check_sid(sid)
        return await self._consume_csrf(sid, check_sid(token_digest, "token_digest"))

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease ``key`` for ``owner`` until ``ttl`` seconds from now: ``True`` for
        exactly one of any number of concurrent callers while it is held, ``False`` for the
        others. An expired lease is free again (a holder that died does not block forever)."""
        check_sid(key, "key")
        check_sid(owner, "owner")
        if (
            isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or not math.isfinite(ttl)
            or ttl <= 0
        ):
            raise ValueError("ttl must be a positive, finite number of seconds")
        return await self._acquire(key, owner, float(ttl))

    async def release(self, key: str, owner: str) -> bool:
        """Free the lease ``key`` if ``owner`` still holds it (``True``); a lease that expired
        and was taken by another is left alone (``False``)."""
        check_sid(key, "key")
        check_sid(owner, "owner")
        return await self._release(key, owner)

    async def purge_expired(self) -> int:
        """Delete expired sessions and CSRF tokens now; return how many sessions went.

        Stores also purge on their own from time to time (Redis through its TTLs), so calling
        this is never required (docs/deploy.md suggests a scheduled job). The default does
        nothing.
        """
        return 0

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads this store opened (not those it was given)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the hooks a backend implements (arguments already checked) ---------------------------

    @abc.abstractmethod
    async def _get(self, sid: str) -> StoredSession | None:
        """:meth:`get`."""

    @abc.abstractmethod
    async def _set(
        self, sid: str, data: str, user_id: str | None, expires_at: float, meta: str | None
    ) -> None:
        """:meth:`set`, with ``data`` and ``meta`` as their JSON text (``meta`` ``None``: keep
        a live session's meta, else ``{}``)."""

    @abc.abstractmethod
    async def _touch(self, sid: str, expires_at: float) -> bool:
        """:meth:`touch`."""

    @abc.abstractmethod
    async def _destroy(self, sid: str) -> None:
        """:meth:`destroy`."""

    @abc.abstractmethod
    async def _list_for_user(self, user_id: str) -> list[StoredSession]:
        """The user's live sessions, in any order (:meth:`list_for_user` sorts them)."""

    @abc.abstractmethod
    async def _destroy_for_user(self, user_id: str, keep: frozenset[str]) -> list[str]:
        """:meth:`destroy_for_user`: one atomic step (transaction, script or lock)."""

    @abc.abstractmethod
    async def _merge(
        self, sid: str, patch: str, create: tuple[str | None, float] | None
    ) -> dict[str, Any] | None:
        """:meth:`merge` with ``patch`` as JSON text; ``create`` is ``(user_id, expires_at)``
        of the session to start when ``sid`` is not live, or ``None`` to start none."""

    @abc.abstractmethod
    async def _replace_data(self, sid: str, data: str) -> bool:
        """:meth:`replace_data` with ``data`` as JSON text."""

    @abc.abstractmethod
    async def _pluck(self, sid: str, key: str) -> Any:
        """:meth:`pluck`."""

    @abc.abstractmethod
    async def _add_csrf(self, sid: str, token_digest: str, expires_at: float) -> None:
        """:meth:`add_csrf`."""

    @abc.abstractmethod
    async def _consume_csrf(self, sid: str, token_digest: str) -> bool:
        """:meth:`consume_csrf`."""

    @abc.abstractmethod
    async def _acquire(self, key: str, owner: str, ttl: float) -> bool:
        """:meth:`acquire`: one atomic test-and-set in the backend."""

    @abc.abstractmethod
    async def _release(self, key: str, owner: str) -> bool:
        """:meth:`release`: one atomic compare-and-delete in the backend."""


def new_sid() -> str:
    """A fresh session id: 256 random bits from :mod:`secrets`, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def encode_json(value: Any) -> str:
    """Compact, ASCII-only JSON: the one text form every backend stores (and Redis' Lua merges).

    ASCII-only keeps lone surrogates storable everywhere and makes the encoding of a key
    canonical, which the Redis store's merge script relies on.
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"session data must be JSON-serialisable: {exc}") from None


def decode_json(text: str | bytes) -> Any:
    """Decode stored JSON (the inverse of :func:`encode_json`)."""
    return json.loads(text)


def decode_object(text: str | bytes) -> dict[str, Any]:
    """Decode stored data or meta (always a JSON object)."""
    if text == "{}":  # most meta, and empty data: a third of a store read's decoding
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored session data is not a JSON object")
    return value


def check_sid(sid: object, what: str = "sid") -> str:
    """A session id (or other key) as every backend can store it: a bounded, non-empty string.

    Checked once, in the base class, so a hostile id never reaches a SQL query or a Lua script.
    """
    if not isinstance(sid, str) or not sid or len(sid) > MAX_ID_LENGTH:
        raise ValueError(f"{what} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return sid


def check_user_id(user_id: object, *, optional: bool = True) -> str | None:
    """A user id under the same rule as a session id (``None`` allowed where ``optional``)."""
    if user_id is None and optional:
        return None
    return check_sid(user_id, "user_id")


def check_expires(expires_at: object) -> float:
    """Unix seconds as a finite float: a NaN expiry would compare false with everything and
    keep a session forever."""
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        raise TypeError("expires_at must be Unix seconds (a float)")
    value = float(expires_at)
    if not math.isfinite(value):
        raise ValueError("expires_at must be finite")
    return value


def check_data(data: object, what: str = "data") -> str:
    """Validate a JSON object (``dict``) and return its stored text."""
    if not isinstance(data, Mapping):
        raise TypeError(f"session {what} must be a mapping (a JSON object), not {type(data)!r}")
    return encode_json(dict(data))


def check_meta(meta: object) -> str | None:
    """Validate ``meta`` (string to string) and return its stored text; ``None`` stays ``None``."""
    if meta is None:
        return None
    if not isinstance(meta, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise TypeError("session meta must map strings to strings")
    return encode_json(dict(meta))


def gc_ttl(expires_at: float, now: float) -> int:
    """Whole seconds for a native TTL: ``max(1, expires_at - now) + GC_SLACK``, rounded up."""
    return math.ceil(max(1.0, expires_at - now) + GC_SLACK)
