"""``POST /api/session/sync``: where the browser's HttpOnly cookie catches up with the state.

The request body is ``{"token": <Reflex client token>, "proof": <SessionState.sync_proof>}``.
The token only names the tab; what authorises the request is the browser's HttpOnly binding
cookie, which must match the one the tab was bound to (:mod:`.tab`). A page script that read the
token can therefore make this endpoint do nothing for any browser but the one that owns the tab.
A token with no state is refused without creating one.

An XSS can do one more thing: *plant* a binding of its choosing in the browser (a same-name
cookie on a longer path, or its own after flooding the cookie jar). Two rules keep that from
paying off after the script is gone:

* a pending **login** is delivered only with its one-time ``proof``, which the server sent to the
  socket that signed in (and drops when another socket takes the tab), so a poller elsewhere
  holding the planted binding and the token cannot collect the login cookie;
* a sync never moves the tab onto **another** session than the one it shows: when the browser's
  cookie names a different session (another tab signed in), the answer says ``reconnect`` and
  the page reloads, so the tab's session always comes from a cookie its own socket carried.

The operations to apply are taken from that tab's server-side state, never from the request. They
are applied in order to the cookie *the request carries* — the browser's newest cookie, which
another tab may have changed since this tab last looked:

========  ===================================================================================
login     write the new session (a new id: a login never reuses a session)
update    merge the change into the cookie's session, if it is still the same session
refresh   re-issue the cookie's session (idle expiry moves, the absolute limit does not)
logout    clear the cookie
pull      (no operation queued) read the cookie, re-issuing it when the refresh rule says so
========  ===================================================================================

The result is written back into the tab's state (``app.modify_state`` pushes it to the page) and
the new cookie goes out as ``Set-Cookie``. The JSON answer says only whether the cookie changed,
so the page can tell its other tabs; it never contains the cookie, a token or the session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from reflex_base.utils.exceptions import LockExpiredError
from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import wire
from ..binding import BindingCookie, digests_match
from ..binding import digest as digest_text
from ..errors import CookieTooLarge, ForbiddenUpdate
from ..http.common import NO_STORE_HEADERS, jar_for_scope, parse_json, read_body
from ..http.origin import cross_site_reason, request_is_https
from ..lifecycle import merged
from ..reasons import Reason
from ..securitylog import refused
from ..stores.base import StoreUnavailable
from .runtime import get_app
from .state import SessionState
from .tab import tab_exists

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from ..auth import ReflexSession
    from ..cookies import CookieJar
    from ..session import Session

__all__ = ["SyncEndpoint", "apply_operations"]

log = logging.getLogger("reflex_session")
_MAX_BODY = 1024


async def apply_operations(
    auth: ReflexSession[Any], jar: CookieJar, ops: list[dict[str, Any]]
) -> Session[Any] | None:
    """Apply queued operations to the jar's cookie, in order; return the resulting session."""

    if not ops:
        return await auth.get_session(jar)
    session: Session[Any] | None = None
    for op in ops:
        kind = op.get("op")
        if kind == "login":
            session = await auth.create_session(
                jar, wire.from_tab(op["session"], auth.user_type), meta=op.get("meta")
            )
        elif kind == "logout":
            target = op.get("session_id")
            current, _ = await auth.load_session(jar) if target else (None, False)
            if current is not None and current.id != target:
                session = current  # signed in again since: not this logout's session to end
            else:
                await auth.delete_session(jar)
                session = None
        elif kind == "refresh":
            current, _ = await auth.load_session(jar)
            session = await auth.refresh_session(jar) if current else None
        elif kind == "update":
            current, _ = await auth.load_session(jar)
            if current is None:
                session = None
            elif current.id != op.get("session_id"):
                session = current  # another tab replaced the session: its cookie wins
            else:
                tokens = {k: op[k] for k in ("access_token", "refresh_token") if k in op}
                try:
                    merged(current, user=op.get("user"), **tokens)  # validates; raises
                    session = await auth.update_session(jar, user=op.get("user"), **tokens)
                except (ForbiddenUpdate, CookieTooLarge) as exc:
                    log.warning("queued session update dropped: %s", type(exc).__name__)
                    session = current
        else:  # "pull"
            session = await auth.get_session(jar)
    return session


class SyncEndpoint:
    """ASGI endpoint applying a tab's pending operations to the browser's cookie."""

    def __init__(self, auth: ReflexSession[Any], *, extra_trusted: tuple[str, ...] = ()) -> None:
        self.auth = auth
        #: the settings' trusted origins plus the Reflex layer's own (``deploy_url``)
        self.trusted_origins = (*auth.config.trusted_origins, *extra_trusted)
        self.binding = BindingCookie.for_session_cookie(auth.cookie_policy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            status, body, jar = await self._handle(request)
        except LockExpiredError:
            # the worker is so far behind that the tab's state lock expired before this sync
            # could write the state back: the write is discarded and the queued operations stay
            # queued, so "try again" is the truth (the page retries once); re-applying them is
            # harmless (merge, refresh, logout are idempotent; a login re-writes the same id)
            log.error("session sync: the tab's state lock expired (overloaded worker); 503")
            status, body, jar = 503, {"error": "busy"}, None
        except Exception as exc:
            # the type name carries no secret and tells an operator where to look
            log.error("session sync failed (internal error: %s)", type(exc).__name__)
            status, body, jar = 500, {"error": "internal_error"}, None
        extra = {"Retry-After": "1"} if status == 503 else {}
        response = JSONResponse(body, status_code=status, headers={**NO_STORE_HEADERS, **extra})
        if jar is not None:
            for header in jar.set_cookie_headers:
                response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> tuple[int, dict[str, Any], CookieJar | None]:
        from reflex.istate.manager.token import BaseStateToken

        if request.method != "POST":
            return 405, {"error": "method_not_allowed"}, None
        reason = cross_site_reason(request.scope, self.trusted_origins)
        if reason is not None:
            refused("cross-site session sync refused (%s)", reason)
            return 403, {"error": "cross_site"}, None
        raw = await read_body(request, _MAX_BODY)
        if raw is None:
            return 413, {"error": "body_too_large"}, None
        try:
            data = parse_json(raw)
            token = data["token"]
            if not (isinstance(token, str) and 0 < len(token) <= 128):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            refused("session sync with a malformed body refused")
            return 400, {"error": "bad_request"}, None
        presented = self.binding.read_digest(
            request.headers.get("cookie"), request_is_https=request_is_https(request.scope)
        )
        if presented is None:
            refused("session sync without a browser binding refused")
            return 403, {"error": "not_bound"}, None
        app = get_app()
        if not await tab_exists(app, token):
            return 403, {"error": "not_bound"}, None
        jar = jar_for_scope(self.auth, request.scope)
        async with app.modify_state(BaseStateToken(ident=token, cls=SessionState)) as root:
            state = await root.get_state(SessionState)
            if not digests_match(state.bound_to(), presented):
                refused("session sync from another browser than the tab's refused")
                return 403, {"error": "not_bound"}, None
            needed = state.pending_login_proof()
            proof = data.get("proof")
            if needed is not None and not (
                isinstance(proof, str)
                and len(proof) <= 64
                and proof.isascii()
                and digests_match(needed, digest_text(proof))
            ):
                # a login cookie goes only to the page whose socket signed in: an attacker who
                # planted a binding this browser now sends cannot collect it
                refused("session sync without the login's proof refused")
                # not "not_bound": the page waits for the proof (it may arrive just after)
                return 409, {"error": "proof_required"}, None
            before = state.current_session()
            had_cookie = jar.read() is not None
            ops = state.take_pending()
            try:
                session = await apply_operations(self.auth, jar, ops)
            except StoreUnavailable:
                # nothing is lost: the operations go back in the queue for the next sync
                state.requeue(ops)
                log.error("session store unavailable during a sync; will retry")
                return 503, {"error": "store_unavailable"}, None
            if needed is not None:
                state.clear_login_proof()
            if (
                session is not None
                and needed is None
                and (before is None or before.id != session.id)
            ):
                # the browser's cookie holds another session than the tab (another tab signed
                # in): the tab's socket must carry that cookie before it may act on it, so the
                # page reconnects; a sync never moves the tab onto another session by itself
                return 200, {"status": "authenticated", "changed": True, "reconnect": True}, jar
            # the browser holds no session cookie any more: it signed out (in another tab)
            state.show(session, None if had_cookie else Reason.SIGNED_OUT)
            await state.forget_user_data()
        return (
            200,
            {
                "status": "authenticated" if session else "unauthenticated",
                "changed": any(op.get("op") != "pull" for op in ops) or jar.changed,
            },
            jar,
        )
