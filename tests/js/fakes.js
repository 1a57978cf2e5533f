// Fakes of the browser objects session_core.js is given: a clock with timers, sessionStorage,
// a cookie jar that knows HttpOnly cookies, BroadcastChannel, Web Locks, fetch and a window.

/** A manual clock with setTimeout/setInterval that run only when the test advances time. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.nextId = 1;
    this.timers = new Map(); // id -> { at, fn, every }
  }

  now = () => this.t;

  setTimeout = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, every: null, ms });
    return id;
  };

  setInterval = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn, every: ms, ms });
    return id;
  };

  clearTimeout = (id) => {
    this.timers.delete(id);
  };

  clearInterval = (id) => {
    this.timers.delete(id);
  };

  /** The delays (ms, as asked) of the pending timers, in the order they were set. */
  pending() {
    return [...this.timers.values()].map((t) => t.ms);
  }

  /** Move time on by `ms`, running every timer that falls due, in order of due time. */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let due = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (due === null || timer.at < due[1].at)) due = [id, timer];
      }
      if (due === null) break;
      const [id, timer] = due;
      this.t = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.fn();
    }
    this.t = end;
  }
}

/** Let pending promise callbacks (fetch answers, lock grants) run. */
export async function flush(rounds = 20) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

export class FakeStorage {
  constructor(entries = {}) {
    this.map = new Map(Object.entries(entries));
  }

  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }

  setItem(key, value) {
    this.map.set(key, String(value));
  }
}

/**
 * A cookie jar as page JavaScript sees it: `cookie` lists the non-HttpOnly cookies; a write with
 * Max-Age=0 deletes the non-HttpOnly cookie of the same name, path and domain (a host-only cookie
 * has domain null); HttpOnly cookies can be neither seen nor deleted. Every write is recorded.
 */
export class FakeDocument {
  constructor(cookies = []) {
    this.jar = cookies.map((c) => ({ path: '/', domain: null, httpOnly: false, ...c }));
    this.writes = [];
    this.reads = 0;
  }

  get cookie() {
    this.reads += 1;
    return this.jar
      .filter((c) => !c.httpOnly)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  set cookie(text) {
    this.writes.push(text);
    const [pair, ...attrs] = text.split(';').map((s) => s.trim());
    const name = pair.slice(0, pair.indexOf('='));
    const value = pair.slice(pair.indexOf('=') + 1);
    const attr = Object.fromEntries(
      attrs.map((a) => {
        const i = a.indexOf('=');
        return i < 0 ? [a.toLowerCase(), true] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
      }),
    );
    const path = attr.path ?? '/';
    const domain = attr.domain ?? null;
    const same = (c) => c.name === name && c.path === path && c.domain === domain;
    const existing = this.jar.find(same);
    if (existing && existing.httpOnly) return; // page script cannot touch an HttpOnly cookie
    this.jar = this.jar.filter((c) => !same(c));
    if (attr['max-age'] !== '0') this.jar.push({ name, value, path, domain, httpOnly: false });
  }
}

export class FakeLocation {
  constructor(href = 'http://app.example.com/dashboard') {
    const u = new URL(href);
    this.protocol = u.protocol;
    this.hostname = u.hostname;
    this.pathname = u.pathname;
    this.reloads = 0;
  }

  reload() {
    this.reloads += 1;
  }
}

/** BroadcastChannel: every instance of a name in one FakeBroadcastHub hears the others. */
export function broadcastHub() {
  const channels = [];
  const posted = [];
  class FakeBroadcastChannel {
    constructor(name) {
      this.name = name;
      this.onmessage = null;
      channels.push(this);
    }

    postMessage(data) {
      posted.push({ name: this.name, data });
      for (const other of channels) {
        if (other !== this && other.name === this.name && other.onmessage) {
          other.onmessage({ data });
        }
      }
    }
  }
  return { FakeBroadcastChannel, channels, posted };
}

/** navigator.locks: an exclusive lock per name, granted in request order. */
export class FakeLocks {
  constructor() {
    this.tails = new Map();
    this.requests = [];
  }

  request(name, callback) {
    this.requests.push(name);
    const tail = this.tails.get(name) || Promise.resolve();
    const result = tail.then(() => callback());
    this.tails.set(
      name,
      result.catch(() => {}),
    );
    return result;
  }
}

/** A fetch Response stand-in. */
export function response(status, body, headers = {}) {
  return {
    ok: status >= 200 && status < 300,
    status,
    headers: { get: (name) => headers[name] ?? null },
    json: async () => {
      if (body === undefined) throw new SyntaxError('no JSON body');
      return body;
    },
  };
}

/**
 * A fetch that records its calls and answers from `answers` (a function of the call number, or a
 * list, the last one repeating). Each answer is held until the test calls `release()` when
 * `manual` is set, so a test can see which requests overlap.
 */
export function fakeFetch(answers, { manual = false } = {}) {
  const calls = [];
  const held = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const pick = (n) =>
    typeof answers === 'function' ? answers(n) : answers[Math.min(n, answers.length - 1)];
  const fetch = (url, init) => {
    const n = calls.length;
    calls.push({ url, init, body: init && init.body ? JSON.parse(init.body) : undefined });
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const answer = pick(n);
    const settle = () => {
      inFlight -= 1;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    };
    if (!manual) return Promise.resolve().then(settle);
    return new Promise((resolve) => held.push(resolve)).then(settle);
  };
  return {
    fetch,
    calls,
    get maxInFlight() {
      return maxInFlight;
    },
    /** Answer the oldest held request. */
    release() {
      const resolve = held.shift();
      if (resolve) resolve();
      return !!resolve;
    },
  };
}

/** A window with the parts the runtime uses, and a record of event listeners. */
export function fakeWindow({
  href,
  token = 'tab-token',
  cookies = [],
  broadcast = true,
  hub = broadcastHub(),
} = {}) {
  const listeners = new Map();
  const window = {
    sessionStorage: new FakeStorage(token ? { token } : {}),
    location: new FakeLocation(href),
    document: new FakeDocument(cookies),
    listeners,
    addEventListener(name, fn, options) {
      if (!listeners.has(name)) listeners.set(name, []);
      listeners.get(name).push({ fn, options });
    },
    removeEventListener(name, fn) {
      listeners.set(
        name,
        (listeners.get(name) || []).filter((l) => l.fn !== fn),
      );
    },
    dispatch(name) {
      for (const l of listeners.get(name) || []) l.fn({ type: name });
    },
  };
  if (broadcast) window.BroadcastChannel = hub.FakeBroadcastChannel;
  return window;
}

export const SETTINGS = {
  syncPath: '/api/session/sync',
  names: ['session_bind', '__Host-session_bind', 'session', '__Host-session'],
  bindNames: ['session_bind', '__Host-session_bind'],
};

/** deps for createRuntime/installRuntime, from a fake window, clock and fetch. */
export function runtimeDeps({ window, clock, fetch, locks = null }) {
  return {
    window,
    fetch,
    navigator: locks ? { locks } : {},
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    setInterval: clock.setInterval,
    clearInterval: clock.clearInterval,
    now: clock.now,
    runtime: () => window.__reflexSession,
    backendURL: () => new URL('http://api.example.com:8000/ping?x=1'),
  };
}
