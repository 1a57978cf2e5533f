// The browser side of reflex-session, as plain functions.
//
// Nothing here imports React, the router or Reflex: every browser object (window, fetch,
// navigator, timers, the clock) is passed in, so node --test runs this logic with fakes
// (tests/js/). session_client.js binds it to React and to the real browser.
//
// What it does, and why it is safe: it keeps the HttpOnly session cookie in step with the
// server-side SessionState and schedules everything that depends on time in the browser, so an
// idle page sends no websocket message at all. It never reads a cookie value or a secret: it sees
// only Reflex's client token (its own tab's name, worth nothing without the browser's HttpOnly
// binding cookie), the sync counter and timestamps. The only cookie access is the *names* in
// document.cookie (to notice a planted same-name cookie) and deletions, which can never touch an
// HttpOnly cookie.

/** Web Locks name: one sync at a time across the tabs of this browser. */
export const SYNC_LOCK = 'reflex-session-sync';
/** BroadcastChannel name: a sync that changed the cookie tells the other tabs. */
export const CHANNEL = 'reflex-session';
/** Retries of a sync answered 503 (store down, worker overloaded): 1, 2, 4, 8, 16 s. */
export const MAX_RETRIES = 5;
/** At most one activity check a second (pointermove fires far more often). */
export const ACTIVITY_THROTTLE_MS = 1000;
/** The expiry timer fires a little after expiry, so the server surely sees it expired. */
export const EXPIRY_GRACE_MS = 250;
/** What counts as user activity (all passive listeners). */
export const ACTIVITY_EVENTS = ['pointermove', 'pointerdown', 'keydown', 'touchstart', 'wheel', 'scroll'];
/** The websocket's path: a planted cookie may sit on any prefix of it. */
export const EVENT_PATH = '/_event/';

// sessionStorage keys of reloadOnce, and how often each may reload the page.
export const RELOAD_RECONNECT = ['reflex-session-reconnect', 10000];
export const RELOAD_REBIND = ['reflex-session-rebind', 60000];
export const RELOAD_PLANTED = ['reflex-session-planted', 60000];

/**
 * Reload the page, at most once per `every` ms per `key` (a browser that refuses cookies or a
 * server that keeps answering "reconnect" must never make the page loop). The last reload time
 * lives in sessionStorage, which page scripts can write: a time in the future is treated as stale,
 * so a planted value cannot block the reload for good.
 *
 * @returns {boolean} whether the page is reloading
 */
export function reloadOnce({ sessionStorage, location, now }, key, every) {
  const last = Number(sessionStorage.getItem(key) || 0);
  const t = now();
  if (last <= t && t - last < every) return false;
  sessionStorage.setItem(key, String(t));
  location.reload();
  return true;
}

/**
 * Every path a same-name cookie can have been set for: `/` and each prefix of the websocket's
 * and the sync endpoint's paths (a cookie on a longer path is sent before ours).
 */
export function cookiePaths(syncPath) {
  const paths = new Set(['/']);
  for (const full of [EVENT_PATH, syncPath]) {
    for (let i = 1; i <= full.length; i++) paths.add(full.slice(0, i));
  }
  return paths;
}

/** `''` (host-only) and a `; Domain=` attribute for this host and each parent domain. */
export function cookieDomains(hostname) {
  const labels = hostname.split('.');
  const domains = [''];
  for (let i = 0; i < labels.length - 1; i++) {
    domains.push(`; Domain=${labels.slice(i).join('.')}`);
  }
  return domains;
}

/** The names (never the values) of the cookies page JavaScript can see. */
export function visibleCookieNames(document) {
  // names only: everything after the first '=' is dropped here, never stored or sent
  // eslint-disable-next-line no-restricted-syntax
  return document.cookie.split(';').map((c) => c.trim().split('=')[0]);
}

/**
 * Delete cookies planted under our cookies' names.
 *
 * Our cookies are HttpOnly: page JavaScript cannot change them, but it can *add* cookies of the
 * same names (on a longer path, for a parent domain, or after flooding the jar) to learn the value
 * this browser sends. This deletes any such cookie on every path it can have been set for and,
 * for the binding's names (ours alone), on every domain; a session cookie of the same name on a
 * parent domain may be a sibling app's, so only this host's copies of those are deleted. A delete
 * never touches an HttpOnly cookie, so this removes only planted ones.
 *
 * @returns {boolean} whether a visible cookie of one of `names` was removed
 */
export function unplant({ document, location }, { names, bindNames, syncPath }) {
  const paths = cookiePaths(syncPath);
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  const domains = cookieDomains(location.hostname);
  const seen = visibleCookieNames(document);
  for (const name of names) {
    const where = bindNames.includes(name) ? domains : [''];
    for (const path of paths) {
      for (const domain of where) {
        document.cookie = `${name}=; Max-Age=0; Path=${path}${domain}${secure}`;
      }
    }
  }
  const left = visibleCookieNames(document);
  return names.some((n) => seen.includes(n) && !left.includes(n));
}

/**
 * The page's session runtime (`window.__reflexSession`).
 *
 * `rs.sync()` makes one `POST <syncPath>` (credentials included) with the tab's token, serialised
 * across the tabs of this browser with the Web Locks API, or with a promise chain within this tab
 * where that API is missing. Every call goes through `rs` (`rs.sync`, `rs.run`, ...), so a test or
 * an app can replace one piece on the live object.
 *
 * deps: window (sessionStorage, location, document, BroadcastChannel), fetch, navigator,
 * setTimeout, now (ms clock), backendURL (a fresh URL of the backend).
 * config: syncPath, names (every cookie name to unplant), bindNames (the binding's names).
 */
export function createRuntime(deps, config) {
  const { window, fetch, navigator, setTimeout, now, backendURL } = deps;
  const rs = { seq: undefined, chain: Promise.resolve(), syncs: 0, retries: 0 };

  rs.url = () => {
    const u = backendURL();
    u.pathname = config.syncPath;
    u.search = '';
    return u.toString();
  };

  rs.run = async () => {
    const token = window.sessionStorage.getItem('token');
    if (!token || rs.seq === undefined) return;
    const res = await fetch(rs.url(), {
      method: 'POST',
      credentials: 'include',
      cache: 'no-store',
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
      if (body.reconnect) rs.reloadOnce(...RELOAD_RECONNECT);
    } else if (res.status === 403) {
      // this browser no longer holds the tab's binding (its cookies were cleared): the answer
      // carried a fresh binding cookie, and a page load binds a fresh tab to it. Once a minute at
      // most, so a browser that refuses cookies cannot loop.
      const body = await res.json().catch(() => ({}));
      if (body.error === 'not_bound') {
        rs.unplant();
        rs.reloadOnce(...RELOAD_REBIND);
      }
    } else if (res.status === 503 && rs.retries < MAX_RETRIES) {
      // store down or worker overloaded: the operations stay queued server-side; try again
      // after Retry-After, doubling (1, 2, 4, 8, 16 s), then wait for the next change
      const wait = Number(res.headers.get('Retry-After')) || 1;
      setTimeout(() => rs.sync(), wait * 1000 * 2 ** rs.retries);
      rs.retries += 1;
    }
  };

  rs.reloadOnce = (key, every) =>
    reloadOnce({ sessionStorage: window.sessionStorage, location: window.location, now }, key, every);

  rs.sync = () => {
    const go = () => rs.run().catch(() => {});
    if (navigator.locks && navigator.locks.request) {
      return navigator.locks.request(SYNC_LOCK, go);
    }
    rs.chain = rs.chain.then(go);
    return rs.chain;
  };

  if ('BroadcastChannel' in window) {
    rs.channel = new window.BroadcastChannel(CHANNEL);
    rs.channel.onmessage = (e) => {
      if (e.data && e.data.type === 'changed') rs.sync();
    };
  }

  rs.unplant = () =>
    unplant(
      { document: window.document, location: window.location },
      { names: config.names, bindNames: config.bindNames, syncPath: config.syncPath },
    );

  return rs;
}

/**
 * Create the runtime once per page and publish it as `window.__reflexSession`; unplant at start
 * (and reload once when a planted cookie was removed, so the socket reconnects with ours).
 *
 * @returns the runtime (the existing one when already installed)
 */
export function installRuntime(deps, config) {
  const { window } = deps;
  if (window.__reflexSession) return window.__reflexSession;
  const rs = createRuntime(deps, config);
  if (rs.unplant()) rs.reloadOnce(...RELOAD_PLANTED);
  window.__reflexSession = rs;
  return rs;
}

/**
 * A new `sync_seq` / `sync_proof` from the server.
 *
 * `sync_seq` starts at the clock's milliseconds whenever a tab is bound to a fresh state, so a
 * state that replaced an older one never repeats a value this page saw. The first value a page
 * sees is its mount: it syncs then only with `fetchOnMount` (the page's first look at the cookie
 * goes through HTTP, so a page restored from the back/forward cache or a socket opened with an old
 * cookie still shows the newest). A login's proof is emitted to this socket alone, just before or
 * just after the update that queued the login: either arrival syncs.
 *
 * @returns {boolean} whether it synced
 */
export function syncState(rs, { seq, proof, fetchOnMount }) {
  if (!rs || !seq) return false;
  const first = rs.seq === undefined;
  const changed = rs.seq !== seq || (!!proof && rs.proof !== proof);
  rs.seq = seq;
  rs.proof = proof;
  if (!(first ? fetchOnMount : changed)) return false;
  rs.sync();
  return true;
}

/** A client-side navigation: sync when the path really changed (not on the first look). */
export function pathChanged(rs, pathname) {
  if (!rs || rs.seq === undefined) return false;
  const moved = rs.lastPath !== undefined && rs.lastPath !== pathname;
  rs.lastPath = pathname;
  if (moved) rs.sync();
  return moved;
}

/**
 * The two timers of a signed-in page: one event at the "expiring soon" moment (unless already
 * flagged), and one sync just after expiry, which finds the cookie expired and signs the state
 * out, so protected pages redirect to login.
 *
 * @returns a cleanup (clears both), or undefined when there is nothing to schedule
 */
export function scheduleExpiry(
  { setTimeout, clearTimeout, now, runtime },
  { status, expiresAt, isExpiringSoon, soonMs, onSoon },
) {
  if (status !== 'authenticated' || !expiresAt) return undefined;
  const timers = [];
  const soonAt = expiresAt - soonMs;
  if (!isExpiringSoon) {
    timers.push(setTimeout(() => onSoon(), Math.max(0, soonAt - now())));
  }
  timers.push(
    setTimeout(
      () => {
        const rs = runtime();
        if (rs) rs.sync();
      },
      Math.max(0, expiresAt - now() + EXPIRY_GRACE_MS),
    ),
  );
  return () => timers.forEach((t) => clearTimeout(t));
}

/**
 * User activity pulls the cookie once it is at least `thresholdMs` old: one check a second at
 * most, and at most one pull per threshold window. The pull throttle lives on the runtime
 * (`rs.lastPull`), not here, so a re-issued cookie (whose iat is rounded down to the second) or a
 * re-run of this effect cannot shorten the window.
 *
 * @returns a cleanup (removes the listeners), or undefined when not signed in
 */
export function watchActivity({ window, now, runtime }, { status, lastActivity, thresholdMs }) {
  if (status !== 'authenticated') return undefined;
  let lastCheck = 0;
  const onActivity = () => {
    const t = now();
    const rs = runtime();
    if (!rs || t - lastCheck < ACTIVITY_THROTTLE_MS) return;
    lastCheck = t;
    if (t - lastActivity < thresholdMs || t - (rs.lastPull || 0) < thresholdMs) return;
    rs.lastPull = t;
    rs.sync();
  };
  ACTIVITY_EVENTS.forEach((name) => window.addEventListener(name, onActivity, { passive: true }));
  return () => ACTIVITY_EVENTS.forEach((name) => window.removeEventListener(name, onActivity));
}

/**
 * The optional `refresh_interval`: a sync every `intervalMs` while signed in.
 *
 * @returns a cleanup, or undefined when off or not signed in
 */
export function startInterval({ setInterval, clearInterval, runtime }, { status, intervalMs }) {
  if (status !== 'authenticated' || !intervalMs) return undefined;
  const t = setInterval(() => {
    const rs = runtime();
    if (rs) rs.sync();
  }, intervalMs);
  return () => clearInterval(t);
}

const pad = (n) => String(n).padStart(2, '0');

/**
 * What a countdown shows at `now`: `m:ss` (`h:mm:ss` from an hour), `expiredText` (default
 * `0:00`) once expired, nothing without a session; `ms` left, and whether that is within the
 * expiring-soon window.
 */
export function countdownView(expiresAt, now, soonMs, expiredText) {
  const ms = expiresAt ? Math.max(0, expiresAt - now) : 0;
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  let text;
  if (!expiresAt) text = '';
  else if (ms <= 0) text = expiredText ?? '0:00';
  else if (h > 0) text = `${h}:${pad(m)}:${pad(s)}`;
  else text = `${m}:${pad(s)}`;
  return { ms, text, soon: !!expiresAt && ms > 0 && ms <= (soonMs ?? 0) };
}

/** The countdown's element props: the caller's, plus data-expires-in, data-expiring-soon, role. */
export function countdownProps(rest, view) {
  return {
    ...rest,
    'data-expires-in': view.ms,
    'data-expiring-soon': String(view.soon),
    role: 'timer',
    'aria-live': 'off',
  };
}

/**
 * Ms until the session's next whole second (a full second when exactly on one): every countdown
 * on the page ticks at the same moments and shows the same value.
 */
export function msToNextSecond(expiresAt, now) {
  return (((expiresAt - now) % 1000) + 1000) % 1000 || 1000;
}

/**
 * Call `onTick(now)` at once and then just after each of the session's whole seconds.
 *
 * @returns a cleanup, or undefined without a session
 */
export function startTicker({ setTimeout, clearTimeout, now }, expiresAt, onTick) {
  if (!expiresAt) return undefined;
  let timer;
  const schedule = () => {
    timer = setTimeout(() => {
      onTick(now());
      schedule();
    }, msToNextSecond(expiresAt, now()) + 5);
  };
  onTick(now());
  schedule();
  return () => clearTimeout(timer);
}

/**
 * The browser's real objects, bound where the browser needs a receiver (calling `window.fetch`
 * unbound throws "Illegal invocation"), read at call time (so a test page can replace them).
 */
export function browserDeps(window, backendURL) {
  return {
    window,
    navigator: window.navigator,
    fetch: (url, init) => window.fetch(url, init),
    setTimeout: (f, ms) => window.setTimeout(f, ms),
    clearTimeout: (t) => window.clearTimeout(t),
    setInterval: (f, ms) => window.setInterval(f, ms),
    clearInterval: (t) => window.clearInterval(t),
    now: () => Date.now(),
    runtime: () => window.__reflexSession,
    backendURL,
  };
}

/**
 * The invisible session component (React), built from React's hooks so tests can drive it.
 *
 * Props: the SessionState vars (syncSeq, syncProof, expiresAt, lastActivity, status,
 * isExpiringSoon), the app's settings (syncPath, plantedNames, bindNames, soonMs, thresholdMs,
 * intervalMs, fetchOnMount, refetchOnPathChange, activityRefresh), the onExpiringSoon event, and
 * children, rendered as they are.
 */
export function makeSessionClient({
  useEffect,
  useRef,
  useLocation,
  getWindow,
  backendURL,
  now = () => Date.now(),
}) {
  function ReflexSessionClient(props) {
    const {
      syncSeq,
      syncProof,
      expiresAt,
      lastActivity,
      status,
      isExpiringSoon,
      syncPath,
      plantedNames,
      bindNames,
      soonMs,
      thresholdMs,
      intervalMs,
      fetchOnMount,
      refetchOnPathChange,
      activityRefresh,
      onExpiringSoon,
      children,
    } = props;
    const { pathname } = useLocation();
    // the newest handler, without re-arming the timers each time its identity changes
    const onSoon = useRef(onExpiringSoon);
    onSoon.current = onExpiringSoon;
    const deps = () => ({ ...browserDeps(getWindow(), backendURL), now });

    useEffect(() => {
      const window = getWindow();
      if (!window) return;
      installRuntime(deps(), { syncPath, names: plantedNames ?? [], bindNames: bindNames ?? [] });
    }, []); // the settings come from the app's build: they never change on a page

    useEffect(() => {
      const window = getWindow();
      if (!window) return;
      syncState(window.__reflexSession, { seq: syncSeq, proof: syncProof, fetchOnMount: !!fetchOnMount });
    }, [syncSeq, syncProof]);

    useEffect(() => {
      if (!getWindow()) return undefined;
      return scheduleExpiry(deps(), {
        status,
        expiresAt,
        isExpiringSoon,
        soonMs: soonMs ?? 0,
        onSoon: () => {
          if (onSoon.current) onSoon.current();
        },
      });
    }, [expiresAt, status, isExpiringSoon]);

    useEffect(() => {
      const window = getWindow();
      if (!window || !refetchOnPathChange) return;
      pathChanged(window.__reflexSession, pathname);
    }, [pathname]);

    useEffect(() => {
      if (!getWindow() || !activityRefresh) return undefined;
      return watchActivity(deps(), { status, lastActivity, thresholdMs: thresholdMs ?? 0 });
    }, [status, lastActivity]);

    useEffect(() => {
      if (!getWindow() || !intervalMs) return undefined;
      return startInterval(deps(), { status, intervalMs });
    }, [status]);

    return children === undefined ? null : children;
  }
  return ReflexSessionClient;
}

/**
 * The countdown component (React): a `<span role="timer">` ticking in the browser, built from
 * React's hooks and a `jsx` element factory (Emotion's, so Reflex's style props work).
 *
 * Props: expiresAt, soonMs, expiredText; all others go to the span.
 */
export function makeSessionCountdown({ useEffect, useState, jsx, getWindow, now: clock = Date.now }) {
  function ReflexSessionCountdown({ expiresAt, soonMs, expiredText, ...rest }) {
    const [now, setNow] = useState(() => clock());
    useEffect(() => {
      const window = getWindow();
      if (!window) return undefined;
      return startTicker({ ...browserDeps(window), now: clock }, expiresAt, setNow);
    }, [expiresAt]);
    const view = countdownView(expiresAt, now, soonMs, expiredText);
    return jsx('span', countdownProps(rest, view), view.text);
  }
  return ReflexSessionCountdown;
}
