"""The small browser side: one invisible component that ``install`` puts on every page.

It keeps the HttpOnly cookie in step with the server-side state and schedules everything that
depends on time *in the browser*, so an idle page sends no websocket message at all:

* ``sync_seq`` changed -> one ``POST /api/session/sync`` (credentials included), serialised with
  the Web Locks API across the tabs of this browser (a promise chain where that API is missing);
* after a sync that changed the cookie, a ``BroadcastChannel`` message tells the other tabs, which
  pull the new cookie into their own state (logout in one tab reaches the others in milliseconds);
* user activity (pointer, key, touch, wheel, scroll; throttled to one check a second) pulls once the
  cookie is at least ``refresh_threshold`` old — at most one refresh per threshold window;
* a timer at the "expiring soon" moment (one event) and one at expiry (one pull, which finds the
  cookie expired and signs the state out, so protected pages redirect to login).

No token, cookie value or secret is ever handled here: the script sees only the Reflex client
token (its own tab's name, worth nothing without the browser's HttpOnly binding cookie), the sync
counter and timestamps.
"""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex_base.components.component import field
from reflex_base.event import EventHandler, no_args_event_spec
from reflex_base.vars.base import Var, VarData

from ..binding import BindingCookie
from .runtime import get_auth, get_options
from .state import SessionState

__all__ = ["SessionClient", "SessionCountdown", "session_client", "session_countdown"]

_RUNTIME = """
useEffect(() => {
  if (typeof window === 'undefined' || window.__reflexSession) return;
  const rs = { seq: undefined, chain: Promise.resolve(), syncs: 0, retries: 0 };
  rs.url = () => {
    const u = getBackendURL(env.PING);
    u.pathname = %(sync_path)s;
    u.search = '';
    return u.toString();
  };
  rs.run = async () => {
    const token = window.sessionStorage.getItem('token');
    if (!token || rs.seq === undefined) return;
    const res = await fetch(rs.url(), {
      method: 'POST', credentials: 'include', cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token, proof: rs.proof || undefined }),
    });
    rs.syncs += 1;
    if (res.ok) {
      rs.retries = 0;
      const body = await res.json();
      if (body.changed && rs.channel) rs.channel.postMessage({ type: 'changed' });
      // the cookie holds another session than this tab (another tab signed in): the tab's
      // socket must carry that cookie, so the page loads again (at most every 10 s)
      if (body.reconnect) rs.reloadOnce('reflex-session-reconnect', 10000);
    } else if (res.status === 403) {
      // this browser no longer holds the tab's binding (its cookies were cleared): the answer
      // carried a fresh binding cookie, and a page load binds a fresh tab to it. Once a minute at
      // most, so a browser that refuses cookies cannot loop.
      const body = await res.json().catch(() => ({}));
      if (body.error === 'not_bound') {
        rs.unplant();
        rs.reloadOnce('reflex-session-rebind', 60000);
      }
    } else if (res.status === 503 && rs.retries < 5) {
      // store down or worker overloaded: the operations stay queued server-side; try again
      // after Retry-After, doubling (1, 2, 4, 8, 16 s), then wait for the next change
      const wait = Number(res.headers.get('Retry-After')) || 1;
      setTimeout(() => rs.sync(), wait * 1000 * 2 ** rs.retries);
      rs.retries += 1;
    }
  };
  rs.reloadOnce = (key, every) => {
    const last = Number(window.sessionStorage.getItem(key) || 0);
    const now = Date.now();
    if (last <= now && now - last < every) return; // a time in the future was planted: stale
    window.sessionStorage.setItem(key, String(Date.now()));
    window.location.reload();
  };
  rs.sync = () => {
    const go = () => rs.run().catch(() => {});
    if (navigator.locks && navigator.locks.request) {
      return navigator.locks.request('reflex-session-sync', go);
    }
    rs.chain = rs.chain.then(go);
    return rs.chain;
  };
  if ('BroadcastChannel' in window) {
    rs.channel = new BroadcastChannel('reflex-session');
    rs.channel.onmessage = (e) => { if (e.data && e.data.type === 'changed') rs.sync(); };
  }
  // Our cookies are HttpOnly: page JavaScript cannot change them, but it can *add* cookies of
  // the same names (on a longer path, for a parent domain, or after flooding the jar) to learn
  // the value this browser sends. Delete any such cookie on every path it can have been set for
  // (a prefix of the websocket's or the sync's path) and every domain (this host, its parents):
  // a delete never touches an HttpOnly cookie, so this removes only planted ones. At start, and
  // before the page reloads to bind a fresh tab.
  const names = %(planted_names)s;
  const bindNames = %(bind_names)s;
  rs.unplant = () => {
    const paths = new Set(['/']);
    for (const full of ['/_event/', %(sync_path)s]) {
      for (let i = 1; i <= full.length; i++) paths.add(full.slice(0, i));
    }
    const secure = window.location.protocol === 'https:' ? '; Secure' : '';
    const labels = window.location.hostname.split('.');
    const domains = [''];
    for (let i = 0; i < labels.length - 1; i++) {
      domains.push(`; Domain=${labels.slice(i).join('.')}`);
    }
    const visible = () => document.cookie.split(';').map((c) => c.trim().split('=')[0]);
    const seen = visible();
    for (const name of names) {
      // the binding's name is ours alone; a session cookie of the same name on a parent
      // domain may be a sibling app's, so only this host's copies are deleted
      const where = bindNames.includes(name) ? domains : [''];
      for (const path of paths) {
        for (const domain of where) {
          document.cookie = `${name}=; Max-Age=0; Path=${path}${domain}${secure}`;
        }
      }
    }
    const left = visible();
    return names.some((n) => seen.includes(n) && !left.includes(n));
  };
  if (rs.unplant()) rs.reloadOnce('reflex-session-planted', 60000);
  window.__reflexSession = rs;
}, []);
"""

_PATH = """
const reflexSessionLocation = useLocation();
useEffect(() => {
  const rs = window.__reflexSession;
  if (!rs || rs.seq === undefined) return;
  if (rs.lastPath !== undefined && rs.lastPath !== reflexSessionLocation.pathname) rs.sync();
  rs.lastPath = reflexSessionLocation.pathname;
}, [reflexSessionLocation.pathname]);
"""

# ``sync_seq`` starts at the clock's milliseconds whenever a tab is bound to a fresh state, so a
# state that replaced an older one (a restart that gave the tab a new token, Redis emptied) never
# repeats a value this page saw, and the value-compared dependency always fires. The first value a
# page sees is its mount: it syncs then only with ``fetch_on_mount`` (the page's first look at the
# cookie goes through HTTP, so a page restored from the back/forward cache or a socket opened with
# an old cookie still shows the newest).
_SYNC = """
useEffect(() => {
  const rs = window.__reflexSession;
  const seq = %(seq)s;
  if (!rs || !seq) return;
  const proof = %(proof)s;
  const first = rs.seq === undefined;
  // a login's proof is emitted to this socket alone, just before or just after the update that
  // queued the login: either arrival syncs
  const changed = rs.seq !== seq || (!!proof && rs.proof !== proof);
  rs.seq = seq;
  rs.proof = proof;
  if (first ? %(fetch_on_mount)s : changed) rs.sync();
}, [%(seq)s, %(proof)s]);
"""

_TIMERS = """
useEffect(() => {
  if (%(status)s !== 'authenticated' || !%(expires)s) return;
  const timers = [];
  const soonAt = %(expires)s - %(soon_ms)d;
  if (!%(is_soon)s) {
    timers.push(setTimeout(() => { (%(on_soon)s)(); }, Math.max(0, soonAt - Date.now())));
  }
  timers.push(setTimeout(() => { if (window.__reflexSession) window.__reflexSession.sync(); },
    Math.max(0, %(expires)s - Date.now() + 250)));
  return () => timers.forEach(clearTimeout);
}, [%(expires)s, %(status)s, %(is_soon)s]);
"""

_ACTIVITY = """
useEffect(() => {
  if (%(status)s !== 'authenticated') return;
  let lastCheck = 0;
  const onActivity = () => {
    const now = Date.now();
    const rs = window.__reflexSession;
    if (!rs || now - lastCheck < 1000) return;
    lastCheck = now;
    // the pull throttle lives on the runtime, not in this effect, so a re-issued cookie
    // (whose iat is rounded down to the second) cannot shorten the window
    if (now - %(last_activity)s < %(threshold_ms)d || now - (rs.lastPull || 0) < %(threshold_ms)d) {
      return;
    }
    rs.lastPull = now;
    rs.sync();
  };
  const events = ['pointermove', 'pointerdown', 'keydown', 'touchstart', 'wheel', 'scroll'];
  events.forEach((name) => window.addEventListener(name, onActivity, { passive: true }));
  return () => events.forEach((name) => window.removeEventListener(name, onActivity));
}, [%(status)s, %(last_activity)s]);
"""

_INTERVAL = """
useEffect(() => {
  if (%(status)s !== 'authenticated') return;
  const t = setInterval(() => {
    if (window.__reflexSession) window.__reflexSession.sync();
  }, %(interval)d);
  return () => clearInterval(t);
}, [%(status)s]);
"""


def _js(var: Any) -> str:
    return str(Var.create(var))


class SessionClient(rx.Fragment):  # type: ignore[misc]
    """The invisible session runtime (added once per page by ``install``)."""

    on_expiring_soon: EventHandler[no_args_event_spec] = field(  # type: ignore[type-arg,valid-type]
        doc="Fired once when the session enters its expiring-soon window."
    )

    def add_imports(self) -> dict[str, Any]:
        return {
            "react": [rx.ImportVar(tag="useEffect")],
            "react-router": [rx.ImportVar(tag="useLocation")],
            "$/utils/state": [rx.ImportVar(tag="getBackendURL")],
            "$/env.json": [rx.ImportVar(tag="env", is_default=True)],
        }

    def add_hooks(self) -> list[str | Var[Any]]:
        auth = get_auth()
        options = get_options()
        binding = BindingCookie.for_session_cookie(auth.cookie_policy)
        state_vars = [
            SessionState.sync_seq,
            SessionState.sync_proof,
            SessionState.expires_at,
            SessionState.last_activity,
            SessionState.status,
            SessionState.is_expiring_soon,
        ]
        on_soon = self.event_triggers.get("on_expiring_soon")
        on_soon_js = _js(on_soon) if on_soon is not None else "(() => {})"
        parts: list[Any] = [*state_vars]
        if on_soon is not None:
            parts.append(Var.create(on_soon))
        var_data = VarData.merge(*(v._get_all_var_data() for v in parts))
        values = {
            "sync_path": json.dumps(auth.config.api_path + "/sync"),
            "bind_names": json.dumps([binding.name(False), binding.name(True)]),
            "planted_names": json.dumps(
                [
                    binding.name(False),
                    binding.name(True),
                    auth.cookie_policy.name_for(False),
                    auth.cookie_policy.name_for(True),
                ]
            ),
            "seq": _js(SessionState.sync_seq),
            "proof": _js(SessionState.sync_proof),
            "expires": _js(SessionState.expires_at),
            "last_activity": _js(SessionState.last_activity),
            "status": _js(SessionState.status),
            "is_soon": _js(SessionState.is_expiring_soon),
            "on_soon": on_soon_js,
            "soon_ms": options.soon_ms(auth.policy),
            "threshold_ms": options.activity_ms(auth.policy),
            "interval": options.refresh_interval or 0,
            "fetch_on_mount": "true" if options.fetch_on_mount else "false",
        }
        hooks = [_RUNTIME, _SYNC, _TIMERS]
        if options.refetch_on_path_change:
            hooks.append(_PATH)
        if options.auto_activity_refresh:
            hooks.append(_ACTIVITY)
        if options.refresh_interval:
            hooks.append(_INTERVAL)
        return [Var(hook % values, _var_data=var_data) for hook in hooks]


def session_client() -> rx.Component:
    """The runtime component, wired to ``SessionState``."""
    component: rx.Component = SessionClient.create(
        on_expiring_soon=SessionState.mark_expiring_soon,
        on_mount=SessionState.enforce_route,
    )
    return component


_COUNTDOWN_JS = """
function ReflexSessionCountdown({ expiresAt, soonMs, expiredText, ...rest }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!expiresAt) return;
    // tick on the session's whole seconds, so every countdown on the page shows the same value
    let timer;
    const schedule = () => {
      const delay = ((expiresAt - Date.now()) % 1000 + 1000) % 1000 || 1000;
      timer = setTimeout(() => { setNow(Date.now()); schedule(); }, delay + 5);
    };
    setNow(Date.now());
    schedule();
    return () => clearTimeout(timer);
  }, [expiresAt]);
  const ms = expiresAt ? Math.max(0, expiresAt - now) : 0;
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, '0');
  const text = !expiresAt ? '' : ms <= 0 ? (expiredText ?? '0:00')
    : h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  return jsx('span', { ...rest, 'data-expires-in': ms,
    'data-expiring-soon': String(!!expiresAt && ms > 0 && ms <= (soonMs ?? 0)),
    role: 'timer', 'aria-live': 'off' }, text);
}
"""


class SessionCountdown(rx.Component):
    """The time left in the session (``4:59``), ticking in the browser.

    It counts down from ``SessionState.expires_at`` with a local timer: an idle page with a
    countdown on screen sends no websocket message. It also exposes ``data-expires-in`` (ms) and
    ``data-expiring-soon`` for styling and tests.
    """

    tag = "ReflexSessionCountdown"

    expires_at: Var[int]
    soon_ms: Var[int]
    expired_text: Var[str]

    def add_imports(self) -> dict[str, Any]:
        return {
            "react": [rx.ImportVar(tag="useState"), rx.ImportVar(tag="useEffect")],
            "@emotion/react": [rx.ImportVar(tag="jsx")],
        }

    def add_custom_code(self) -> list[str]:
        return [_COUNTDOWN_JS]


def session_countdown(**props: Any) -> rx.Component:
    """A ticking ``m:ss`` of the session's remaining time (empty without a session)."""
    auth = get_auth()
    props.setdefault("soon_ms", get_options().soon_ms(auth.policy))
    component: rx.Component = SessionCountdown.create(expires_at=SessionState.expires_at, **props)
    return component
