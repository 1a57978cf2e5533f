"""``DevicesState``: a user's sessions on a "your devices" page, and signing them out.

Needs ``auth.revocations`` (a store, or a revocation store); the list itself needs a store. Each
action checks the session against the store *now*, as guarded events do, and pushes the change
to every open tab of the user (:func:`.live.notify`), so the devices it signs out follow within
a second.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import reflex as rx

from ..reasons import Reason
from ..session import Session
from ..stores.base import StoreUnavailable
from .live import notify
from .runtime import get_auth
from .state import SessionState

__all__ = ["DevicesState", "device_handle"]

log = logging.getLogger("reflex_session")


def device_handle(sid: str) -> str:
    """A stable, non-secret name for a session in the browser (a digest of its id)."""
    return hashlib.sha256(("device:" + sid).encode()).hexdigest()[:16]


class DevicesState(SessionState):
    """The signed-in user's sessions: list them, end one, or end all (but this one)."""

    #: This user's sessions: handle, userAgent, ip, lastSeen (ms), current. The handle is a
    #: digest, never the session id itself.
    devices: list[dict[str, Any]] = []  # noqa: RUF012 - a Reflex var, copied per instance

    @rx.event
    async def load_devices(self) -> Any:
        """Fill :attr:`devices` from the store."""
        session, down = await self._live_session()
        if session is None:
            return None if down else self._signed_out_by_store()
        await self._fill_devices()
        return None

    async def _live_session(self) -> tuple[Session[Any] | None, bool]:
        """The session if it is still live in the store *now*, as a guarded event checks it.

        These handlers are not ``@guarded`` (a signed-out page may call them), so they check
        for themselves: a tab whose session was ended elsewhere must not list, end or "sign out
        everywhere" on its behalf. A store outage reads as "no session" here (the action is
        refused) but does not sign the tab out. Returns ``(session, store_down)``.
        """
        session = self.current_session()
        if session is None:
            return None, False
        if get_auth().revocations is None:
            log.warning("a devices action needs a store (or a revocation store); refused")
            return None, True
        try:
            live = await self.session_is_live()
        except StoreUnavailable:
            log.error("session store unavailable: a devices action is refused")
            return None, True
        return (session, False) if live else (None, False)

    def _signed_out_by_store(self) -> Any:
        """The end of a handler refused by :meth:`_live_session`: sign the tab out."""
        if self.current_session() is not None or self.has_lapsed():
            self.sign_out()
        self.devices = []
        return self.route_redirect()

    async def _signed_out_here(self) -> Any:
        self.sign_out(reason=Reason.SIGNED_OUT)
        await self.forget_user_data()
        return self.route_redirect()

    async def _fill_devices(self) -> None:
        session = self.current_session()
        devices = get_auth().devices
        if session is None or devices is None:
            self.devices = []
            return
        self.devices = [
            {
                "handle": device_handle(r.sid),
                "userAgent": r.meta.get("userAgent", ""),
                "ip": r.meta.get("ip", ""),
                "lastSeen": int(r.touched_at * 1000),
                "current": r.sid == session.id,
            }
            for r in await devices.list_sessions(session.user.id)
        ]

    @rx.event
    async def sign_out_device(self, handle: str) -> Any:
        """End one of this user's sessions (from the devices list); its tabs follow at once."""
        session, down = await self._live_session()
        if session is None:
            return None if down else self._signed_out_by_store()
        devices = get_auth().devices
        ended = None
        if devices is not None:
            for record in await devices.list_sessions(session.user.id):
                if device_handle(record.sid) == handle:
                    await devices.end_session(record.sid, user_id=session.user.id)
                    ended = record.sid
                    break
        if ended == session.id:
            return await self._signed_out_here()
        await notify(
            "revoke",
            session.user.id,
            skip_token=self.router.session.client_token,
            origin=self.bound_to(),
        )
        await self._fill_devices()
        return None

    @rx.event
    async def sign_out_everywhere(self, keep_this_device: bool = False) -> Any:
        """End every session of this user (or every other one); all their tabs follow at once."""
        session, down = await self._live_session()
        revocations = get_auth().revocations
        if session is None or revocations is None:
            return None if down else self._signed_out_by_store()
        await revocations.end_user_sessions(
            session.user.id, except_session_id=session.id if keep_this_device else None
        )
        await notify(
            "revoke",
            session.user.id,
            skip_token=self.router.session.client_token,
            origin=self.bound_to(),
        )
        if keep_this_device:
            await self._fill_devices()
            return None
        return await self._signed_out_here()
