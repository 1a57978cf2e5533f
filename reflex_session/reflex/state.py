"""``SessionState``: the session as server-side Reflex state, for app states to inherit.

It mirrors the reference's client hooks — ``session``, ``status``, ``user``, ``is_authenticated``,
``is_loading``, ``expires_at``, ``is_expiring_soon`` and the handlers ``refresh``, ``update``,
``logout``, ``recalculate`` — but the truth lives on the server: the browser receives the client
view (never a token, never the cookie) and a couple of numbers to schedule timers.

How the cookie follows the state
--------------------------------
A Reflex event runs over a websocket and cannot set a cookie. Every verb here therefore does two
things: it changes the state *at once* (the page updates immediately) and it queues an operation
in the backend-only ``_pending`` queue and bumps ``sync_seq``. The client component that
``install`` adds to every page sees ``sync_seq`` change and makes one ``POST /api/session/sync``
(credentials included, serialised across tabs with the Web Locks API). That HTTP request takes
the pending operations out of *this tab's* state — they never travel through the browser — applies
them to the cookie the request carries (the browser's newest truth, which another tab may have
changed), sets the new HttpOnly cookie, and writes the result back into the state. A stale tab
can therefore never overwrite a newer cookie, and the cookie never lags behind the state.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import secrets
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import urlencode

import reflex as rx
from reflex.state import StateUpdate
from reflex_base.constants import RouteVar, SocketEvent
from reflex_base.constants.state import FIELD_MARKER

from .. import wire
from ..binding import digest, digests_match
from ..clock import now_ms
from ..errors import ProviderError, ReflexSessionError
from ..http.origin import handshake_is_https
from ..lifecycle import merged
from ..reasons import DEFAULT_MESSAGES, Reason, message_for, read_notice, with_reason
from ..rules import Decision
from ..securitylog import refused
from ..session import Session
from ..stores.base import StoreUnavailable
from ..wire import from_patch
from .routing import decide, known_roles, path_of
from .runtime import get_app, get_auth, get_options, get_runtime
from .sockets import event_origin, linked_sid, socket_binding

__all__ = ["SessionState"]

log = logging.getLogger("reflex_session")

P = ParamSpec("P")
R = TypeVar("R")


class server_only(Generic[P, R]):
    """A ``SessionState`` method the browser can never call.

    Reflex turns every public function of a state class into an event handler that any
    websocket client may invoke with any arguments. ``login(user)`` or ``update_session(...)``
    reachable that way would let anyone sign in as anyone. Wrapped in this descriptor, which is
    not itself a function (Reflex only registers functions), the method stays callable from
    server code as ``self.login(...)`` and never becomes an event. The event middleware refuses
    these names as well, and a test pins the list of ``SessionState``'s events.
    """

    def __init__(self, fn: Callable[Concatenate[Any, P], R]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> server_only[P, R]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Callable[P, R]: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        return self if obj is None else types.MethodType(self.fn, obj)


#: Pending operations older than this are dropped unapplied (the tab never synced).
PENDING_TTL_MS = 60_000


class SessionState(rx.State):
    """The shared session of one browser tab. Subclass it: ``class AppState(SessionState)``."""

    #: The client view: user, expiresAt, expiryDate, createdAt, lastActivity — never tokens.
    session: dict[str, Any] = {}  # noqa: RUF012 - a Reflex var, copied per instance
    #: "loading" until the websocket connected, then "authenticated" or "unauthenticated".
    status: str = "loading"
    #: Unix ms when the session ends (0 without a session); the browser counts down from it.
    expires_at: int = 0
    #: Unix ms of the last cookie issue; the browser's activity refresh is scheduled from it.
    last_activity: int = 0
    #: True within the "expiring soon" window (set by the browser's timer, reset by a refresh).
    is_expiring_soon: bool = False
    #: Bumped whenever the cookie must catch up with the state (see the module docstring). It
    #: starts at the clock's milliseconds when the tab is bound, so a tab given a fresh state
    #: never repeats a value its page already saw. Not a credential: the sync endpoint trusts
    #: only the browser's HttpOnly binding cookie.
    sync_seq: int = 0

    #: The full session (tokens included) as JSON: backend-only, never sent to the browser. A
    #: string, not a dict, because Reflex wraps dict vars for change tracking, which made
    #: rebuilding the session on every guarded event cost ~80 µs; a string is parsed once and
    #: cached (:func:`_session_from_json`).
    _session_json: str = ""
    #: The operations the next sync applies to the cookie (backend-only). A tuple, not a list:
    #: Reflex wraps a list (and each dict in it) in a change-tracking proxy at every read, and a
    #: guarded event reads it; the queue is only ever replaced whole.
    _pending: tuple[dict[str, Any], ...] = ()
    #: The digest of the binding cookie of the browser that owns this tab (see
    #: :mod:`reflex_session.reflex.tab`); empty until the first event binds it.
    _bind: str = ""
    #: The socket whose handshake cookie the session was last read from, or that signed in.
    #: An event from any other socket re-reads the session from *its* cookie first, so a socket
    #: that shares the tab's binding (one planted by an XSS) never acts on a session whose
    #: cookie it does not carry.
    _sid: str = ""
    #: A one-time proof of the tab's pending login. Its value is never kept in this var: it is
    #: emitted straight to the socket that signed in (not to whichever socket holds the tab's
    #: token when the state update goes out), and the sync that delivers the login cookie must
    #: present it (see :mod:`.sync`). The var only gives the page a place to receive it.
    sync_proof: str = ""
    #: The proof itself until the login is delivered or dropped (backend-only).
    _login_proof: str = ""
    #: The last minute an event of the tab's browser arrived (see :meth:`keep_alive`; kept under
    #: Reflex's Redis and disk managers only).
    _alive_minute: int = 0
    #: When (ms) the tab's session was last known to be live (read from the cookie or the
    #: store, or checked by a guarded event); compared with the runtime's revocation marks.
    _checked_at: int = 0
    #: Set when the tab's user changed (logout, revocation, another login): the app's user data
    #: in the substates is reset at the next chance (:meth:`forget_user_data`).
    _forget_user: bool = False
    #: Why the tab's session went away (a :class:`~reflex_session.Reason` value, ``""`` while
    #: signed in): the next redirect to the login page says it, so the page can tell the user.
    _exit_reason: str = ""

    #: Whether this state's vars are user data, reset when the user signs out or changes. Set it
    #: to False on an app state that holds nothing personal (a theme, a language).
    user_data: ClassVar[bool] = True
    #: Vars of this state kept across a sign-out even though the state is user data.
    keep_on_logout: ClassVar[tuple[str, ...]] = ()

    # -- the reference's hook values ----------------------------------------------------------

    @rx.var
    def user(self) -> dict[str, Any]:
        """The client view's user; ``{}`` without a session."""
        value = self.session.get("user")
        return value if isinstance(value, dict) else {}

    @rx.var
    def is_authenticated(self) -> bool:
        """Whether the tab shows a session."""
        return self.status == "authenticated"

    @rx.var
    def is_loading(self) -> bool:
        """Whether the session is not known yet (the websocket has not connected)."""
        return self.status == "loading"

    @rx.var
    def user_roles(self) -> list[str]:
        """The user's ``role`` plus its ``roles`` strings (as ``has_role`` reads them).

        Only decides what the page shows; the server-side guards still judge every event.
        """
        user = self.user
        roles = [user["role"]] if isinstance(user.get("role"), str) else []
        many = user.get("roles")
        if isinstance(many, list):
            roles.extend(r for r in many if isinstance(r, str))
        return roles

    @rx.var
    def user_initials(self) -> str:
        """Up to two initials for an avatar fallback: the first and last names' ("Ada Lovelace"
        and "Nora N. Renamed" -> "AL", "NR"), or an email's local part's ("ada@x.io" -> "A")."""
        name = self.user_display_name
        if "@" in name:
            name = name.partition("@")[0]
        words = [w for w in name.replace(".", " ").replace("_", " ").split() if w[:1].isalnum()]
        if not words:
            return ""
        return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()

    @rx.var
    def user_display_name(self) -> str:
        """The user's name, else their email, else their id (``""`` without a session)."""
        user = self.user
        return str(user.get("name") or user.get("email") or user.get("id") or "")

    @rx.var
    def return_to_query(self) -> str:
        """``?callbackUrl=<page>``: this page's safe return-to, for a link to a sibling page
        (the login form's "Create one", the register form's "Sign in"), so registering keeps
        the return-to exactly as signing in does; ``""`` when there is none."""
        auth = get_auth()
        param = auth.config.return_to_param
        value = self.router.url.query_parameters.get(param)
        if not isinstance(value, str) or not value:
            return ""
        target = auth.guard.return_to_from(value)
        return "" if target == auth.config.home_path else "?" + urlencode({param: target})

    @rx.var
    def redirect_reason(self) -> str:
        """Why the library sent the user to this page (``expired``, ``revoked``, ``signedOut``,
        ``loginRequired``, ``forbidden``), from the URL; ``""`` when it did not or when the
        value is not one of these (a crafted link cannot put other words on the page)."""
        notice = self._notice(self.status)
        return notice.reason.value if notice else ""

    @rx.var
    def redirect_roles(self) -> str:
        """The roles a refused page asks for (``admin``; several joined by " or "), only when
        the app's own rules name them; ``""`` otherwise."""
        notice = self._notice(self.status)
        return " or ".join(notice.roles) if notice else ""

    @rx.var
    def redirect_message(self) -> str:
        """The default English message for :attr:`redirect_reason` (``""`` without one); the
        ``session_notice`` widget shows it, or your own text per reason."""
        notice = self._notice(self.status)
        return message_for(notice, DEFAULT_MESSAGES) if notice else ""

    def _notice(self, status: str) -> Any:
        """The URL's notice, if it fits the tab: a link cannot tell a signed-in user "you were
        signed out" (a pretext for phishing on our own page), nor a signed-out one that a role
        is missing. (``status`` is passed in so each var depends on it.)"""
        query = self.router.url.query_parameters
        notice = read_notice(query.get("reason"), query.get("role"), known_roles=known_roles())
        if notice is None:
            return None
        refusal = notice.reason is Reason.FORBIDDEN
        if (status == "authenticated" and not refusal) or (status == "unauthenticated" and refusal):
            return None
        return notice

    # -- reading the session on the server ----------------------------------------------------

    @server_only
    def current_session(self) -> Session[Any] | None:
        """The live session, checked against the clock *now*; ``None`` when absent or expired."""
        if not self._session_json:
            return None
        auth = get_auth()
        try:
            session = _session_from_json(self._session_json, id(auth.user_type))
        except (KeyError, TypeError, ValueError):
            return None
        if auth.is_session_expired(session):
            return None
        return session

    def _stored_session(self) -> Session[Any] | None:
        if not self._session_json:
            return None
        try:
            return _session_from_json(self._session_json, id(get_auth().user_type))
        except (KeyError, TypeError, ValueError):
            return None

    # -- applying a session to the state ------------------------------------------------------

    @server_only
    def show(self, session: Session[Any] | None, reason: Reason | None = None) -> None:
        """Make ``session`` the tab's session at once (``None``: signed out); only what changed
        is set. The cookie is not touched: that is what the queued operations are for.

        When a shown session goes away, ``reason`` says why, for the redirect to the login
        page that follows; without one it is ``revoked`` (ended where it was kept). A session
        past its expiry always says ``expired``: its cookie is gone from the browser for that
        very reason, which a sync would otherwise read as "signed out in another tab".
        """
        auth = get_auth()
        # the previous session whether or not it has expired: an expired session's user data
        # must be forgotten too when the next user signs in at this tab
        current = self._stored_session()
        if session is not None:
            self._exit_reason = ""
        elif current is not None:
            lapsed = auth.is_session_expired(current)
            self._exit_reason = (Reason.EXPIRED if lapsed else reason or Reason.REVOKED).value
        before = current.id if current else None
        tabs = get_runtime().tabs
        token = self.router.session.client_token
        if current is not None and (session is None or session.user.id != current.user.id):
            tabs.remove(current.user.id, token)
            self._forget_user = True
        if session is not None:
            tabs.add(session.user.id, token)
        if session is None:
            if self._session_json:
                self._session_json = ""
            if self.session:
                self.session = {}
            self.status = "unauthenticated"
            self.expires_at = 0
            self.last_activity = 0
            self.is_expiring_soon = False
        else:
            self._checked_at = now_ms(auth.clock)
            self._session_json = json.dumps(wire.to_tab(session), separators=(",", ":"))
            view = auth.client_view(session)
            if view != self.session:
                self.session = view
            self.status = "authenticated"
            self.expires_at = session.expires_at
            self.last_activity = session.last_activity
            soon_ms = get_options().soon_ms(auth.policy)
            self.is_expiring_soon = session.expires_at - now_ms(auth.clock) <= soon_ms
        callback = get_options().on_session_change
        if callback is not None and before != (session.id if session else None):
            try:
                callback(self, session)
            except Exception:
                log.exception("on_session_change raised")

    def _queue(self, op: str, **data: Any) -> None:
        now = now_ms(get_auth().clock)
        self._pending = (
            *(p for p in self._pending if now - p["at"] < PENDING_TTL_MS),
            {"op": op, "at": now, **data},
        )
        self.sync_seq += 1

    @server_only
    def queue_pull(self) -> None:
        """Let the next sync re-read the browser's cookie into this tab (nothing changes here)."""
        self._queue("pull")

    @server_only
    def take_pending(self) -> list[dict[str, Any]]:
        """The tab's queued operations, removed from it (the sync applies them to the cookie)."""
        ops, self._pending = list(self._pending), ()
        return ops

    @server_only
    def requeue(self, ops: list[dict[str, Any]]) -> None:
        """Put operations back in front of the queue (a sync that could not apply them)."""
        self._pending = (*ops, *self._pending)

    @server_only
    def pending_login_proof(self) -> str | None:
        """The digest of the proof the newest queued login needs, ``None`` with no login queued."""
        logins = [op for op in self._pending if op.get("op") == "login"]
        return str(logins[-1].get("proof", "")) if logins else None

    @server_only
    def revoked_since_check(self) -> bool:
        """Whether this worker heard of a revocation of the tab's user since the tab's session
        was last known to be live (then the next event re-checks it)."""
        revoked = get_runtime().revoked
        if not revoked:  # nothing was revoked on this worker: no need to read the session
            return False
        shown = self._stored_session()
        if shown is None:
            return False
        return revoked.get(shown.user.id, -1) >= self._checked_at

    @server_only
    def mark_checked(self) -> None:
        """The tab's session was just found live (in the store, or the revocation list)."""
        self._checked_at = now_ms(get_auth().clock)

    @server_only
    def login_undelivered(self) -> bool:
        """Whether the tab's session is a login whose cookie the browser has not fetched yet.

        Its store record (store mode) is written by that sync, so until then the session is
        live by construction: a guarded event in between (a protected page's ``on_load`` after
        the login's redirect) must not take it for a revoked one. Only for as long as a queued
        operation lives, and only while no session of the user was ended since: a client that
        never syncs cannot keep a session out of reach of revocation.
        """
        pending = self._pending
        if not pending:
            return False
        shown = self._stored_session()
        if shown is None:
            return False
        now = now_ms(get_auth().clock)
        revoked = get_runtime().revoked.get(shown.user.id, -1)
        return any(
            op.get("op") == "login"
            and (op.get("session") or {}).get("id") == shown.id
            and now - op["at"] < PENDING_TTL_MS
            and revoked < op["at"]
            for op in pending
        )

    @server_only
    async def session_is_live(self) -> bool:
        """Whether the tab's session may act now: not expired, and not ended where it is kept
        (one store read in store mode or with a revocation store; none for a login still on its
        way to the browser). Raises ``StoreUnavailable`` when the store cannot say."""
        session = self.current_session()
        if session is None:
            return False
        return self.login_undelivered() or await get_auth().is_live(session)

    @server_only
    def has_lapsed(self) -> bool:
        """Whether the tab still shows a session that has expired by the clock."""
        return bool(self._session_json) and self.current_session() is None

    # -- the user's data in the app's states ------------------------------------------------------

    @server_only
    async def forget_user_data(self) -> None:
        """Reset the app states that inherit from ``SessionState`` once the user has changed.

        Secure by default: after a sign-out (or a revocation, or another user's login) the next
        person at this browser must not find the previous user's data in the page, so every
        ``SessionState`` subclass is reset to its defaults, except states marked
        ``user_data = False`` and the vars they list in ``keep_on_logout``. It runs at the
        verbs that sign out and, for any path that could not await it, before the tab's next
        event. Substates that Reflex's Redis manager had not loaded are loaded for it.
        """
        if not self._forget_user:
            return
        self._forget_user = False
        root = self._get_root_state()
        for cls in _app_session_states(type(root)):
            if not cls.user_data:
                continue
            state = await root.get_state(cls)
            fields = cls.get_fields()
            for name in inspect.get_annotations(cls):
                if name in fields and name not in cls.keep_on_logout:
                    setattr(state, name, fields[name].default_value())

    # -- the tab's binding (see .tab) ----------------------------------------------------------

    @server_only
    def keep_alive(self) -> None:
        """Write this state at least once a minute while its tab is active.

        Reflex's Redis manager renews a state's expiry only when it writes it, and an event that
        changes only an app state does not write this one. Left to expire, the tab would lose
        its binding and be reset at its next event. Reflex's memory manager renews a state at
        every read, so there this does nothing (and the middleware's common path, which only
        runs under that manager, does not call it).
        """
        runtime = get_runtime()
        if runtime.states_renewed_on_read:
            return
        minute = now_ms(runtime.auth.clock) // 60_000
        if minute != self._alive_minute:
            self._alive_minute = minute

    @server_only
    def clear_login_proof(self) -> None:
        """The login was delivered: its proof is spent."""
        self._login_proof = ""

    @server_only
    def settled_on(self, sid: str, binding: str) -> bool:
        """Whether an event of socket ``sid``, which presents ``binding``, finds this tab just as
        the previous one left it, so that an event without requirements needs nothing more.

        That is: bound to ``binding``; its session read from that very socket; no user data
        waiting to be forgotten; no session of its user ended since it last checked
        (:meth:`revoked_since_check`, the full path's own condition); and a state manager that
        renews the state at every read (nothing for :meth:`keep_alive` to write). One read of
        each field, for the middleware's common path (the same tests as :meth:`bound_to`,
        :meth:`socket_changed` and :meth:`keep_alive`, read here directly: the common path is
        there to save those calls); any ``False`` sends the event through the full checks.
        """
        return (
            digests_match(self._bind, binding)
            and sid == self._sid
            and not self._forget_user
            and get_runtime().states_renewed_on_read
            and not self.revoked_since_check()
        )

    @server_only
    def socket_changed(self, sid: str) -> bool:
        """Whether ``sid`` is not the socket the tab's session was read from or signed in on."""
        return sid != self._sid

    @server_only
    async def reload_for_socket(self) -> None:
        """Read the session from this event's socket cookie, as a hydrate would, and let the next
        sync apply the browser's newest cookie."""
        await self.load_from_socket()
        self.queue_pull()

    @server_only
    def bound_to(self) -> str:
        """The binding digest of the browser that owns this tab ("" before the first event)."""
        return self._bind

    @server_only
    def bind_to(self, binding: str) -> None:
        """Make this (freshly reset) tab the property of the browser presenting ``binding``."""
        self._bind = binding
        self.sync_seq = now_ms(get_auth().clock)

    @server_only
    async def load_from_socket(self) -> None:
        """Fill the state from the cookie the websocket was opened with (at connect only).

        The websocket's headers are frozen at the handshake, so this is only trusted at
        (re)connect time; later the state is newer than those headers. In store mode this is
        one store read, so a session revoked while the tab was away is refused here too.
        Cross-site sockets never get here: the ASGI layer refuses their handshake.
        """
        auth = get_auth()
        headers = self.router.headers
        sid = self.router.session.session_id or ""
        if sid != self._sid:
            # another connection: a login queued on the previous one is not this socket's to
            # deliver (its proof went to that socket only)
            self._pending = tuple(op for op in self._pending if op.get("op") != "login")
            self._login_proof = ""
            self._sid = sid
        raw = self.router_data.get("headers") or {}
        jar = auth.jar(getattr(headers, "cookie", "") or "", https=handshake_is_https(raw))
        try:
            session, stale_key = await auth.load_session(jar)
        except StoreUnavailable:
            log.error("session store unavailable at connect; the tab starts signed out")
            session, stale_key = None, False
        # no session cookie on this socket at all: this browser signed out (in another tab)
        self.show(session, None if jar.read() else Reason.SIGNED_OUT)
        await self.forget_user_data()
        if session is not None and (stale_key or auth.should_refresh_session(session)):
            # the cookie needs re-issuing (threshold passed, or an old secret): one HTTP pull
            self._queue("pull")

    # -- the verbs ------------------------------------------------------------------------------

    @server_only
    def login(
        self,
        user: Any,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> Session[Any]:
        """Sign ``user`` in from your own login handler; the page is signed in at once.

        Call it from an event handler after checking credentials, then redirect with
        :meth:`return_to`::

            @rx.event
            def submit(self, form: dict):
                user = check_password(form["email"], form["password"])
                if user is None:
                    self.error = "Invalid email or password"
                    return
                self.login({"id": str(user.id), "email": user.email, "name": user.name})
                return rx.redirect(self.return_to())

        A new session id is issued at every login (session fixation defence); the HttpOnly cookie
        follows through the sync request, without a page reload.
        """
        auth = get_auth()
        session = auth.new_session(user, access_token=access_token, refresh_token=refresh_token)
        self._pending = ()
        self.show(session)
        # the socket whose event signs in: in a background task the state's own router data
        # may be a later (even a refused) socket's, so Reflex's EventContext says which
        origin = event_origin(self.router.session.client_token)
        if origin:
            headers = origin.get(RouteVar.HEADERS) or {}
            agent = str(headers.get("user-agent") or "")
            ip = str(origin.get(RouteVar.CLIENT_IP) or "")
            sid = str(origin.get(RouteVar.SESSION_ID) or "")
        else:
            agent = str(getattr(self.router.headers, "user_agent", "") or "")
            ip = self.router.session.client_ip or ""
            sid = self.router.session.session_id or ""
        meta = {"userAgent": agent[:200], "ip": ip}
        proof = secrets.token_urlsafe(32)
        self._login_proof = proof
        self._sid = sid
        self._queue("login", session=wire.to_tab(session), meta=meta, proof=digest(proof))
        send_proof(
            self._sid,
            self.router.session.client_token,
            self.bound_to(),
            SessionState.get_full_name(),
            proof,
        )
        return session

    @server_only
    def return_to(self) -> str:
        """The safe page to land on after login: the ``callbackUrl`` of this page, else home."""
        auth = get_auth()
        value = self.router.url.query_parameters.get(auth.config.return_to_param)
        return auth.guard.return_to_from(value if isinstance(value, str) else None)

    @server_only
    def update_session(
        self,
        user: Mapping[str, Any] | None = None,
        /,
        **tokens: str | None,
    ) -> Session[Any] | None:
        """Merge changes into the session at once (``user`` deep-merged; nothing is lost)."""
        session = self.current_session()
        if session is None:
            return None
        changes: dict[str, Any] = {}
        for key in ("access_token", "refresh_token"):
            if key in tokens:
                changes[key] = tokens[key]
        unknown = set(tokens) - {"access_token", "refresh_token"}
        if unknown:
            raise TypeError(f"unknown session fields: {sorted(unknown)}")
        updated = merged(session, user=user, **changes)
        auth = get_auth()
        auth.backend.check_fits(updated)  # raises CookieTooLarge now, not in the sync request
        self.show(updated)
        self._queue("update", session_id=session.id, user=dict(user or {}), **changes)
        return updated

    @rx.event
    def update(self, changes: dict[str, Any]) -> None:
        """The reference's ``update({user: {...}})`` from the page.

        Only ``client_user_fields`` (name and image by default) may change this way: an event's
        payload comes from the browser. Server code uses :meth:`update_session` instead.
        """
        try:
            kwargs = from_patch(
                changes, allow_tokens=False, user_fields=get_auth().config.client_user_fields
            )
            self.update_session(kwargs.get("user"))
        except (ReflexSessionError, TypeError, ValueError) as exc:
            # the payload is the browser's: a forbidden or malformed change is refused with one
            # rate-limited line, never a traceback in the log
            refused("session update from the page refused (%s)", type(exc).__name__)

    @rx.event
    def refresh(self) -> None:
        """Extend the session: the browser's sync re-issues its cookie, and the state takes the
        new expiry from that cookie.

        The state never extends itself. A socket whose browser no longer holds the cookie (a
        copied cookie that expired, a browser that signed out) cannot keep a session alive by
        calling this: only a cookie the sync endpoint re-issued moves ``expires_at``.
        """
        session = self.current_session()
        if session is None:
            self.show(None)
            return
        self._queue("refresh", session_id=session.id)

    @rx.event
    async def logout(self) -> Any:
        """Sign out: the state at once, the cookie through the sync request, other tabs after.

        Where the server can end a session (store mode, or ``revocation_store``) it is ended
        here, in the event, not only when the browser's sync arrives: a tab closed (or a sync
        blocked) right after "Log out" must not leave a session a copied cookie can still use.
        The app's user data in this tab is reset (see :meth:`forget_user_data`).
        """
        session = self.current_session()
        auth = get_auth()
        leave_to: str | None = None
        if session is not None:
            providers = get_runtime().providers
            if providers is not None:
                # revoke the grant at the provider before its tokens are gone with the session
                back = (providers.public_url or self._page_origin()) + auth.config.login_path
                leave_to = await providers.sign_out_at_provider(
                    session, post_logout_redirect_uri=back
                )
            ended = auth.revocations is not None  # store mode, or a revocation store
            try:
                await auth.backend.end_session(session)
            except StoreUnavailable:
                log.error("session store unavailable at logout; the sync will end it")
                ended = False
            notify = get_runtime().notify
            if ended and notify is not None:
                # a socket of another browser on this session (a copied cookie) is signed out
                # live too, not only at its next guarded event; this browser's own tabs follow
                # the cookie, and are told "you signed out"
                await notify(
                    "revoke",
                    session.user.id,
                    skip_token=self.router.session.client_token,
                    origin=self.bound_to(),
                )
        result = self._logout()
        await self.forget_user_data()
        if leave_to is not None:
            # RP-initiated logout: the provider ends its own session, then sends the user back
            return rx.redirect(leave_to, is_external=False, replace=True)
        return result

    @server_only
    def _page_origin(self) -> str:
        """``scheme://host`` of the page, for the provider's post-logout URI: the websocket
        handshake's ``Origin`` (set by the browser, which a script cannot forge), else its host
        with the scheme the handshake arrived on. ``ProviderAuth(public_url=...)`` overrides it,
        and the provider accepts only the URIs registered with it."""
        headers = self.router.headers
        origin = str(getattr(headers, "origin", "") or "")
        if origin.startswith(("http://", "https://")):
            return origin.rstrip("/")
        host = str(getattr(headers, "host", "") or "localhost")
        https = handshake_is_https(self.router_data.get("headers") or {})
        return ("https" if https else "http") + "://" + host

    @server_only
    async def access_token(self) -> str | None:
        """A valid access token from the identity provider this session signed in with.

        ``await self.access_token()`` in any event of a ``SessionState`` subclass. In store
        mode it is renewed when it is within ``refresh_margin`` of its expiry, by exactly one
        of all the tabs and workers asking at that moment (the others wait and use its result).
        ``None`` when the session did not sign in with a provider, or when the provider has just
        refused to renew the grant for good: the session has then ended, and this tab and every
        other open tab of the user are signed out live, saying why. A provider that cannot be
        reached raises :class:`~reflex_session.errors.ProviderError`
        (``provider_unavailable``); the session stays.
        """
        session = self.current_session()
        providers = get_runtime().providers
        if session is None or providers is None:
            return None
        try:
            return await providers.access_token(session)
        except ProviderError as error:
            if error.reason != "grant_revoked":
                raise
        self.sign_out(reason=Reason.REVOKED)
        await self.forget_user_data()
        notify = get_runtime().notify
        if notify is not None:
            await notify("revoke", session.user.id, skip_token=self.router.session.client_token)
        return None

    @server_only
    def sign_out(
        self, *, tell_browser: bool = True, browser_wide: bool = False, reason: Reason | None = None
    ) -> None:
        """Sign this tab out now: its pending work is dropped and its state emptied (the app's
        user data is flagged for reset, see :meth:`forget_user_data`). With ``tell_browser``
        the next sync clears the browser's cookie too; without it (a session that merely
        lapsed) there is nothing to clear.

        The logout names the session the tab showed: the sync ends the browser's cookie only if
        it still holds that session, never a newer one signed in since (in another tab), so a
        revocation aimed at one session cannot sign out another. ``browser_wide`` (the user's
        own "Log out") ends whatever session the browser holds. ``reason`` is what the login
        page will say (see :meth:`show`).
        """
        shown = self._stored_session()
        self._pending = ()
        self.show(None, reason)
        if tell_browser:
            target = None if browser_wide or shown is None else shown.id
            self._queue("logout", session_id=target)

    def _logout(self) -> Any:
        self.sign_out(browser_wide=True, reason=Reason.SIGNED_OUT)
        return self.route_redirect()

    @rx.event
    def recalculate(self) -> Any:
        """Re-check expiry against the server clock now (the reference's ``recalculate``)."""
        if self._session_json and self.current_session() is None:
            self.show(None)
        return self.route_redirect()

    @rx.event
    def mark_expiring_soon(self) -> None:
        """Called once by the browser's timer when the session enters the expiring-soon window."""
        if self.current_session() is not None:
            self.is_expiring_soon = True

    @rx.event
    def enforce_route(self) -> Any:
        """Apply the route rules and page requirements to the current page (used by widgets)."""
        return self.route_redirect()

    # -- routing ------------------------------------------------------------------------------

    @server_only
    def route_decision(self) -> Decision:
        """The guard's decision for the current page and the session at this moment."""
        return decide(path_of(self.router.url), self.current_session())

    @server_only
    def route_redirect(self) -> Any:
        """The redirect this page needs now (the route rules and page requirements), or
        ``None``; a session that lapsed is shown as signed out first."""
        if self._session_json and self.current_session() is None:
            self.show(None)
        decision = self.route_decision()
        if decision.allowed or not decision.location:
            if self._exit_reason and self.current_session() is None:
                self._exit_reason = ""  # said (or no longer needed): a later redirect is plain
            return None
        location = decision.location
        if decision.reason == "login":
            location = self.with_exit_reason(location)
        return rx.redirect(location, replace=True)

    @server_only
    def with_exit_reason(self, login_location: str) -> str:
        """``login_location`` saying why the tab's session went away (expired, revoked, signed
        out), when it did; else unchanged (``loginRequired``)."""
        notice = read_notice(self._exit_reason)
        return with_reason(login_location, notice.reason) if notice else login_location


#: Names of server-only methods: refused as events by the middleware, whatever the state
#: (derived from the class, so a new server-only method cannot be forgotten here).
SERVER_ONLY = frozenset(
    {name for name, value in vars(SessionState).items() if isinstance(value, server_only)}
    | {"setvar"}
)


@functools.lru_cache(maxsize=8)
def _app_session_states(root: type[rx.State]) -> tuple[type[SessionState], ...]:
    """Every subclass of ``SessionState`` in the app's state tree (not ``SessionState`` itself)."""
    found: list[type[SessionState]] = []

    def walk(cls: type[Any]) -> None:
        for sub in cls.get_substates():
            if issubclass(sub, SessionState) and sub is not SessionState:
                found.append(sub)
            walk(sub)

    walk(root)
    return tuple(found)


_PROOF_SENDS: set[asyncio.Task[None]] = set()


def send_proof(sid: str, token: str, bound: str, state_name: str, proof: str) -> None:
    """Emit ``proof`` as ``SessionState.sync_proof`` to the socket ``sid`` alone, and only
    while it holds the tab ``token`` and presents the tab's binding ``bound``.

    Reflex sends a state's updates to whichever socket holds the tab's token *when the update
    goes out*; if the socket that signed in dropped meanwhile, that may be another one. This
    goes to the signing socket or nowhere (then the login cannot be delivered, and the user
    signs in again).
    """

    namespace = getattr(get_app(), "event_namespace", None)
    if namespace is None or not sid or linked_sid(namespace, token) != sid:
        return
    presented = socket_binding(namespace, sid)
    if bound and presented is not None and not digests_match(presented, bound):
        return  # another browser's socket (a login made outside any event of this tab)
    update = StateUpdate(delta={state_name: {"sync_proof" + FIELD_MARKER: proof}})
    task = asyncio.get_running_loop().create_task(
        namespace.emit(str(SocketEvent.EVENT), update, to=sid)
    )
    _PROOF_SENDS.add(task)
    task.add_done_callback(_PROOF_SENDS.discard)


@functools.lru_cache(maxsize=4096)
def _session_from_json(text: str, user_type_id: int) -> Session[Any]:
    """A session from the state's JSON; cached by the whole text (and the user type), so any
    change is a miss and the (immutable) result can be shared between events."""
    return wire.from_tab(json.loads(text), get_auth().user_type)
