// The demo's local times: "Sun, Dec 6, 9:05 PM GMT+9 (in 8 hours)". The server does not know
// the user's time zone, so the browser formats the session's expiry (demo/local_time.py).
//
// Plain functions, no React and no browser global: "now", the locale and the time zone are
// arguments, so tests/js/local_time.test.js checks them in any zone with a fixed clock.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "Sun, Dec 6, 9:05 PM GMT+9": the moment in the given zone (the browser's when undefined). */
export function formatAbsolute(atMs, locale, timeZone) {
  return new Intl.DateTimeFormat(locale, {
    weekday: 'short',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
    timeZone,
  }).format(new Date(atMs));
}

/**
 * "in 8 hours", "in 5 minutes", "in a few seconds", "3 minutes ago": the distance from now,
 * rounded to its largest unit (people do not say "in 7 hours 59 minutes").
 */
export function formatRelative(atMs, nowMs, locale) {
  const diff = atMs - nowMs;
  const size = Math.abs(diff);
  if (size < 45 * SECOND) {
    return diff >= 0 ? 'in a few seconds' : 'a few seconds ago';
  }
  const words = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const sign = diff < 0 ? -1 : 1;
  if (size < 45 * MINUTE) {
    return words.format(sign * Math.max(1, Math.round(size / MINUTE)), 'minute');
  }
  if (size < 22 * HOUR) {
    return words.format(sign * Math.max(1, Math.round(size / HOUR)), 'hour');
  }
  return words.format(sign * Math.max(1, Math.round(size / DAY)), 'day');
}

/**
 * What the component shows for a timestamp (ms since the epoch): the local text, the relative
 * phrase, and the ISO value for the <time> element. Nothing for a missing or invalid time.
 */
export function localTimeView(atMs, nowMs, locale, timeZone) {
  if (typeof atMs !== 'number' || !Number.isFinite(atMs) || atMs <= 0) {
    return { iso: '', absolute: '', relative: '' };
  }
  return {
    iso: new Date(atMs).toISOString(),
    absolute: formatAbsolute(atMs, locale, timeZone),
    relative: formatRelative(atMs, nowMs, locale),
  };
}

/** How long until the relative phrase may change: every 15 s is plenty for minutes. */
export const REFRESH_MS = 15 * SECOND;

/**
 * The React component, built from injected React pieces (as session_core.js builds the
 * library's): <time dateTime="...Z">Sun, Dec 6, 9:05 PM GMT+9 (in 8 hours)</time>.
 */
export function makeLocalTime({ createElement, useEffect, useState, now, getWindow }) {
  return function DemoLocalTime({ timestamp, ...rest }) {
    const [, setTick] = useState(0);
    useEffect(() => {
      const win = getWindow();
      if (!win) return undefined;
      const timer = win.setInterval(() => setTick((n) => n + 1), REFRESH_MS);
      return () => win.clearInterval(timer);
    }, []);
    const view = localTimeView(timestamp, now(), undefined, undefined);
    return createElement(
      'time',
      { ...rest, dateTime: view.iso || undefined },
      view.absolute ? `${view.absolute} (${view.relative})` : '',
    );
  };
}
