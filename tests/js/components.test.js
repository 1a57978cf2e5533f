// The two React components, rendered with a minimal hooks harness instead of React: which
// effects run on which prop changes, and what the components hand to the runtime and render.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { makeSessionClient, makeSessionCountdown } from '../../reflex_session/reflex/session_core.js';
import { FakeClock, fakeFetch, fakeWindow, flush, response } from './fakes.js';

/**
 * Just enough of React's hook semantics: state and refs persist by call order; an effect runs
 * after render when its deps changed (by Object.is), its previous cleanup first.
 */
function harness() {
  const slots = [];
  let index = 0;
  let pending = [];
  const hooks = {
    useRef(initial) {
      const i = index++;
      if (!(i in slots)) slots[i] = { current: initial };
      return slots[i];
    },
    useState(initial) {
      const i = index++;
      if (!(i in slots)) slots[i] = { value: typeof initial === 'function' ? initial() : initial };
      const slot = slots[i];
      return [slot.value, (v) => {
        slot.value = v;
      }];
    },
    useEffect(effect, deps) {
      const i = index++;
      const prev = slots[i];
      const changed = !prev || !deps || deps.some((d, k) => !Object.is(d, prev.deps[k]));
      if (!changed) return;
      pending.push(() => {
        if (prev && typeof prev.cleanup === 'function') prev.cleanup();
        slots[i] = { deps, cleanup: effect() };
      });
    },
  };
  return {
    hooks,
    render(Component, props) {
      index = 0;
      pending = [];
      const out = Component(props);
      for (const run of pending) run();
      return out;
    },
  };
}

const STATE = {
  syncSeq: 0,
  syncProof: '',
  expiresAt: 0,
  lastActivity: 0,
  status: 'loading',
  isExpiringSoon: false,
};
const SETTINGS = {
  syncPath: '/api/session/sync',
  plantedNames: ['session_bind', '__Host-session_bind', 'session', '__Host-session'],
  bindNames: ['session_bind', '__Host-session_bind'],
  soonMs: 60_000,
  thresholdMs: 600_000,
  intervalMs: 0,
  fetchOnMount: true,
  refetchOnPathChange: true,
  activityRefresh: true,
};

function mountClient({ settings = {}, answers = [response(200, {})] } = {}) {
  const h = harness();
  const clock = new FakeClock();
  const window = fakeWindow();
  const fetcher = fakeFetch(answers);
  // the fake window carries the fake clock and fetch: the component binds to window's own
  Object.assign(window, {
    fetch: fetcher.fetch,
    navigator: {},
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    setInterval: clock.setInterval,
    clearInterval: clock.clearInterval,
  });
  const location = { pathname: '/dashboard' };
  const Client = makeSessionClient({
    ...h.hooks,
    useLocation: () => location,
    getWindow: () => window,
    backendURL: () => new URL('http://127.0.0.1:8000/ping'),
    now: clock.now,
  });
  let props = { ...STATE, ...SETTINGS, ...settings, children: 'app' };
  const render = (changes = {}) => {
    props = { ...props, ...changes };
    return h.render(Client, props);
  };
  return { render, window, clock, fetcher, location };
}

describe('ReflexSessionClient', () => {
  test('renders its children and installs the runtime on mount', () => {
    const { render, window } = mountClient();
    assert.equal(render(), 'app');
    assert.equal(typeof window.__reflexSession.sync, 'function');
    const rs = window.__reflexSession;
    render({ status: 'authenticated' });
    assert.equal(window.__reflexSession, rs, 'installed once');
  });

  test('renders nothing without children', () => {
    const { render } = mountClient();
    assert.equal(render({ children: undefined }), null);
  });

  test('syncs on the first sync_seq (fetchOnMount) and on every new one, to the sync path', async () => {
    const { render, window, fetcher } = mountClient();
    window.__reflexSession = undefined;
    render();
    await flush();
    assert.equal(fetcher.calls.length, 0, 'no state yet');
    render({ syncSeq: 100 });
    await flush();
    assert.equal(fetcher.calls.length, 1);
    assert.equal(fetcher.calls[0].url, 'http://127.0.0.1:8000/api/session/sync');
    render({ lastActivity: 5, status: 'authenticated' });
    await flush();
    assert.equal(fetcher.calls.length, 1, 'other props do not sync');
    render({ syncProof: 'p' });
    await flush();
    assert.equal(fetcher.calls.length, 2);
    assert.equal(fetcher.calls[1].body.proof, 'p');
  });

  test('without fetchOnMount the first sync_seq is only remembered', async () => {
    const { render, fetcher } = mountClient({ settings: { fetchOnMount: false } });
    render({ syncSeq: 100 });
    render({ syncSeq: 101 });
    await flush();
    assert.equal(fetcher.calls.length, 1);
  });

  test('a client-side navigation syncs, unless refetchOnPathChange is off', async () => {
    for (const [refetch, expected] of [[true, 2], [false, 1]]) {
      const { render, fetcher, location } = mountClient({ settings: { refetchOnPathChange: refetch } });
      render({ syncSeq: 100 });
      location.pathname = '/other';
      render();
      await flush();
      assert.equal(fetcher.calls.length, expected, `refetchOnPathChange=${refetch}`);
    }
  });

  test('arms the expiry timers when signed in; the newest onExpiringSoon is called', async () => {
    const { render, clock, fetcher } = mountClient();
    const calls = [];
    render({ syncSeq: 100 });
    await flush();
    render({ status: 'authenticated', expiresAt: clock.now() + 120_000, onExpiringSoon: () => calls.push('old') });
    render({ onExpiringSoon: () => calls.push('new') });
    assert.deepEqual(clock.pending(), [60_000, 120_250], 'a new handler does not re-arm the timers');
    clock.advance(60_000);
    assert.deepEqual(calls, ['new']);
    clock.advance(60_250);
    await flush();
    assert.equal(fetcher.calls.length, 2, 'the expiry sync');
  });

  test('a new expiry re-arms the timers; signing out clears them', () => {
    const { render, clock } = mountClient();
    render({ status: 'authenticated', expiresAt: clock.now() + 120_000 });
    render({ expiresAt: clock.now() + 240_000 });
    assert.deepEqual(clock.pending(), [180_000, 240_250]);
    render({ status: 'unauthenticated', expiresAt: 0 });
    assert.deepEqual(clock.pending(), []);
  });

  test('activity listeners only with activityRefresh, and only when signed in', () => {
    const on = mountClient();
    on.render();
    assert.equal(on.window.listeners.size, 0);
    on.render({ status: 'authenticated' });
    assert.equal(on.window.listeners.get('keydown').length, 1);
    const off = mountClient({ settings: { activityRefresh: false } });
    off.render({ status: 'authenticated' });
    assert.equal(off.window.listeners.size, 0);
  });

  test('the interval sync only with intervalMs', async () => {
    const { render, clock, fetcher } = mountClient({ settings: { intervalMs: 30_000 } });
    render({ syncSeq: 100, status: 'authenticated' });
    await flush();
    clock.advance(60_000);
    await flush();
    assert.equal(fetcher.calls.length, 3);
    const none = mountClient();
    none.render({ status: 'authenticated' });
    assert.deepEqual(none.clock.pending(), []);
  });
});

describe('ReflexSessionCountdown', () => {
  function mountCountdown(start) {
    const h = harness();
    const clock = new FakeClock(start);
    const window = { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout };
    const jsx = (type, props, text) => ({ type, props, text });
    const Countdown = makeSessionCountdown({ ...h.hooks, jsx, getWindow: () => window, now: clock.now });
    return { clock, render: (props) => h.render(Countdown, props) };
  }

  test('a span with the time left, ticking with the clock', () => {
    const start = 1_700_000_000_000;
    const { clock, render } = mountCountdown(start);
    const props = { expiresAt: start + 65_000, soonMs: 60_000, id: 'countdown' };
    let el = render(props);
    assert.equal(el.type, 'span');
    assert.equal(el.text, '1:05');
    assert.deepEqual(el.props, {
      id: 'countdown',
      'data-expires-in': 65_000,
      'data-expiring-soon': 'false',
      role: 'timer',
      'aria-live': 'off',
    });
    clock.advance(5_005);
    el = render(props);
    assert.equal(el.text, '0:59');
    assert.equal(el.props['data-expiring-soon'], 'true');
  });

  test('empty without a session', () => {
    const { render } = mountCountdown(1_700_000_000_000);
    const el = render({ expiresAt: 0, soonMs: 60_000 });
    assert.equal(el.text, '');
    assert.equal(el.props['data-expires-in'], 0);
  });
});
