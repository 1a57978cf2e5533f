// The session runtime: the sync request, its serialisation (Web Locks, else a promise chain),
// what each answer does (changed, reconnect, 403 not_bound, 503 backoff), BroadcastChannel,
// reloadOnce and the start-up unplant.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  CHANNEL,
  MAX_RETRIES,
  SYNC_LOCK,
  createRuntime,
  installRuntime,
  reloadOnce,
} from '../../reflex_session/reflex/session_core.js';
import {
  FakeClock,
  FakeLocks,
  FakeStorage,
  broadcastHub,
  fakeFetch,
  fakeWindow,
  flush,
  response,
  runtimeDeps,
  SETTINGS,
} from './fakes.js';

function setup({ answers = [response(200, { changed: false })], manual = false, locks = true, ...win } = {}) {
  const clock = new FakeClock();
  const window = fakeWindow(win);
  const fetcher = fakeFetch(answers, { manual });
  const lockImpl = locks ? new FakeLocks() : null;
  const deps = runtimeDeps({ window, clock, fetch: fetcher.fetch, locks: lockImpl });
  const rs = createRuntime(deps, SETTINGS);
  rs.seq = 1; // as after the sync effect saw the first sync_seq
  return { clock, window, fetcher, locks: lockImpl, rs, deps };
}

describe('the sync request', () => {
  test('posts the tab token and the proof to the sync path of the backend, with credentials', async () => {
    const { rs, fetcher } = setup();
    rs.proof = 'p-1';
    await rs.sync();
    assert.equal(fetcher.calls.length, 1);
    const [{ url, init, body }] = fetcher.calls;
    assert.equal(url, 'http://api.example.com:8000/api/session/sync');
    assert.equal(init.method, 'POST');
    assert.equal(init.credentials, 'include');
    assert.equal(init.cache, 'no-store');
    assert.deepEqual(init.headers, { 'Content-Type': 'application/json' });
    assert.deepEqual(body, { token: 'tab-token', proof: 'p-1' });
    assert.equal(rs.syncs, 1);
  });

  test('sends no proof key when there is none', async () => {
    const { rs, fetcher } = setup();
    rs.proof = '';
    await rs.sync();
    assert.deepEqual(fetcher.calls[0].body, { token: 'tab-token' });
  });

  test('does nothing without a tab token or before the first sync_seq', async () => {
    const noToken = setup({ token: null });
    await noToken.rs.sync();
    assert.equal(noToken.fetcher.calls.length, 0);

    const noSeq = setup();
    noSeq.rs.seq = undefined;
    await noSeq.rs.sync();
    assert.equal(noSeq.fetcher.calls.length, 0);
  });

  test('a network error is swallowed (the next change syncs again)', async () => {
    const { rs, fetcher } = setup({ answers: [new TypeError('offline'), response(200, {})] });
    await rs.sync();
    await rs.sync();
    assert.equal(fetcher.calls.length, 2);
  });
});

describe('serialisation', () => {
  test('with Web Locks: every sync takes the one lock, and syncs never overlap', async () => {
    const { rs, fetcher, locks } = setup({ manual: true });
    const first = rs.sync();
    const second = rs.sync();
    await flush();
    assert.deepEqual(locks.requests, [SYNC_LOCK, SYNC_LOCK]);
    assert.equal(fetcher.calls.length, 1, 'the second sync waits for the lock');
    fetcher.release();
    await first;
    await flush();
    assert.equal(fetcher.calls.length, 2);
    fetcher.release();
    await second;
    assert.equal(fetcher.maxInFlight, 1);
  });

  test('two runtimes (two tabs) sharing the lock manager never overlap', async () => {
    const a = setup({ manual: true });
    const clock = new FakeClock();
    const window = fakeWindow();
    const deps = runtimeDeps({ window, clock, fetch: a.fetcher.fetch, locks: a.locks });
    const b = createRuntime(deps, SETTINGS);
    b.seq = 1;
    const syncs = [a.rs.sync(), b.sync(), a.rs.sync()];
    await flush();
    assert.equal(a.fetcher.calls.length, 1);
    for (let i = 0; i < 3; i++) {
      a.fetcher.release();
      await flush();
    }
    await Promise.all(syncs);
    assert.equal(a.fetcher.calls.length, 3);
    assert.equal(a.fetcher.maxInFlight, 1);
  });

  test('without Web Locks: a promise chain runs the syncs one after the other', async () => {
    const { rs, fetcher } = setup({ manual: true, locks: false });
    const first = rs.sync();
    const second = rs.sync();
    assert.equal(second, rs.chain, 'the newest sync is the chain');
    await flush();
    assert.equal(fetcher.calls.length, 1);
    fetcher.release();
    await first;
    await flush();
    assert.equal(fetcher.calls.length, 2);
    fetcher.release();
    await second;
    assert.equal(fetcher.maxInFlight, 1);
  });

  test('without Web Locks: a failed sync does not break the chain', async () => {
    const { rs, fetcher } = setup({
      locks: false,
      answers: [new TypeError('offline'), response(200, {})],
    });
    await rs.sync();
    await rs.sync();
    assert.equal(fetcher.calls.length, 2);
  });

  test('an unusable navigator.locks (no request) falls back to the chain', async () => {
    const { rs, deps, fetcher } = setup({ locks: false });
    deps.navigator.locks = {};
    await rs.sync();
    assert.equal(fetcher.calls.length, 1);
  });

  test('sync is looked up on the runtime, so a replaced rs.run is used', async () => {
    const { rs, fetcher } = setup();
    let runs = 0;
    rs.run = async () => {
      runs += 1;
    };
    await rs.sync();
    assert.equal(runs, 1);
    assert.equal(fetcher.calls.length, 0);
  });
});

describe('answers', () => {
  test('changed: the other tabs are told over the BroadcastChannel', async () => {
    const hub = broadcastHub();
    const { rs } = setup({ hub, answers: [response(200, { changed: true })] });
    await rs.sync();
    assert.deepEqual(hub.posted, [{ name: CHANNEL, data: { type: 'changed' } }]);
  });

  test('unchanged: nobody is told', async () => {
    const hub = broadcastHub();
    const { rs } = setup({ hub, answers: [response(200, { changed: false })] });
    await rs.sync();
    assert.deepEqual(hub.posted, []);
  });

  test('reconnect: the page reloads, at most once every 10 s', async () => {
    const { rs, window, clock } = setup({ answers: [response(200, { reconnect: true })] });
    await rs.sync();
    assert.equal(window.location.reloads, 1);
    assert.equal(window.sessionStorage.getItem('reflex-session-reconnect'), String(clock.now()));
    clock.advance(9_999);
    await rs.sync();
    assert.equal(window.location.reloads, 1);
    clock.advance(1);
    await rs.sync();
    assert.equal(window.location.reloads, 2);
  });

  test('403 not_bound: planted cookies are deleted and the page reloads (once a minute)', async () => {
    const { rs, window, clock } = setup({
      answers: [response(403, { error: 'not_bound' })],
      cookies: [{ name: 'session_bind', value: 'planted', domain: 'example.com' }],
    });
    await rs.sync();
    assert.equal(window.document.jar.length, 0, 'the planted binding cookie is gone');
    assert.equal(window.location.reloads, 1);
    assert.equal(window.sessionStorage.getItem('reflex-session-rebind'), String(clock.now()));
    clock.advance(59_000);
    await rs.sync();
    assert.equal(window.location.reloads, 1);
    clock.advance(1_000);
    await rs.sync();
    assert.equal(window.location.reloads, 2);
  });

  test('403 for another reason, or without a JSON body: no unplant, no reload', async () => {
    for (const answer of [response(403, { error: 'origin' }), response(403, undefined)]) {
      const { rs, window } = setup({ answers: [answer] });
      await rs.sync();
      assert.equal(window.location.reloads, 0);
      assert.deepEqual(window.document.writes, []);
    }
  });

  test('other errors (400, 500) do nothing and schedule nothing', async () => {
    for (const status of [400, 401, 500]) {
      const { rs, window, clock } = setup({ answers: [response(status, {})] });
      await rs.sync();
      assert.equal(window.location.reloads, 0);
      assert.deepEqual(clock.pending(), []);
    }
  });
});

describe('503 backoff', () => {
  test('retries after Retry-After, doubling, five times at most', async () => {
    const { rs, fetcher, clock } = setup({ answers: [response(503, {}, { 'Retry-After': '2' })] });
    await rs.sync();
    const waits = [];
    for (;;) {
      const pending = clock.pending();
      if (pending.length === 0) break;
      assert.equal(pending.length, 1);
      waits.push(pending[0]);
      clock.advance(pending[0]);
      await flush();
    }
    assert.deepEqual(waits, [2000, 4000, 8000, 16000, 32000]);
    assert.equal(rs.retries, MAX_RETRIES);
    assert.equal(fetcher.calls.length, 1 + MAX_RETRIES, 'then it waits for the next change');
  });

  test('Retry-After missing or unreadable counts as 1 s', async () => {
    for (const headers of [{}, { 'Retry-After': 'soon' }]) {
      const { rs, clock } = setup({ answers: [response(503, {}, headers)] });
      await rs.sync();
      assert.deepEqual(clock.pending(), [1000]);
    }
  });

  test('a success resets the count, so a later outage gets five retries again', async () => {
    const busy = response(503, {}, { 'Retry-After': '1' });
    const ok = response(200, {});
    const { rs, clock } = setup({ answers: [busy, busy, ok, busy] });
    await rs.sync();
    clock.advance(1000);
    await flush();
    assert.equal(rs.retries, 2);
    clock.advance(2000);
    await flush();
    assert.equal(rs.retries, 0);
    await rs.sync();
    assert.deepEqual(clock.pending(), [1000]);
  });

  test('the retry goes through rs.sync (serialised like any other sync)', async () => {
    const { rs, clock, locks } = setup({ answers: [response(503, {}), response(200, {})] });
    await rs.sync();
    clock.advance(1000);
    await flush();
    assert.deepEqual(locks.requests, [SYNC_LOCK, SYNC_LOCK]);
  });
});

describe('BroadcastChannel', () => {
  test("another tab's 'changed' message makes this tab sync", async () => {
    const hub = broadcastHub();
    const a = setup({ hub });
    const b = setup({ hub });
    a.rs.channel.postMessage({ type: 'changed' });
    await flush();
    assert.equal(b.fetcher.calls.length, 1);
    assert.equal(a.fetcher.calls.length, 0, 'a tab does not hear itself');
  });

  test('other messages are ignored', async () => {
    const hub = broadcastHub();
    const a = setup({ hub });
    const b = setup({ hub });
    for (const data of [null, {}, { type: 'other' }, 'changed']) a.rs.channel.postMessage(data);
    await flush();
    assert.equal(b.fetcher.calls.length, 0);
  });

  test('a change synced in one tab reaches the other', async () => {
    const hub = broadcastHub();
    const a = setup({ hub, answers: [response(200, { changed: true })] });
    const b = setup({ hub, answers: [response(200, { changed: false })] });
    await a.rs.sync();
    await flush();
    assert.equal(b.fetcher.calls.length, 1);
    assert.equal(hub.posted.length, 1, 'the pulled tab, unchanged, does not echo');
  });

  test('without BroadcastChannel the runtime still syncs', async () => {
    const { rs, fetcher } = setup({ broadcast: false, answers: [response(200, { changed: true })] });
    assert.equal(rs.channel, undefined);
    await rs.sync();
    assert.equal(fetcher.calls.length, 1);
  });
});

describe('reloadOnce', () => {
  const env = () => {
    const clock = new FakeClock();
    const location = { reloads: 0, reload() { this.reloads += 1; } };
    return { clock, location, sessionStorage: new FakeStorage(), now: clock.now };
  };

  test('reloads at most once per window, per key', () => {
    const e = env();
    assert.equal(reloadOnce(e, 'k', 1000), true);
    assert.equal(reloadOnce(e, 'k', 1000), false);
    assert.equal(reloadOnce(e, 'other', 1000), true);
    e.clock.advance(999);
    assert.equal(reloadOnce(e, 'k', 1000), false);
    e.clock.advance(1);
    assert.equal(reloadOnce(e, 'k', 1000), true);
    assert.equal(e.location.reloads, 3);
  });

  test('a planted future timestamp cannot block the reload', () => {
    const e = env();
    e.sessionStorage.setItem('k', String(e.clock.now() + 3_600_000));
    assert.equal(reloadOnce(e, 'k', 60_000), true);
    assert.equal(e.sessionStorage.getItem('k'), String(e.clock.now()), 'overwritten with now');
    assert.equal(reloadOnce(e, 'k', 60_000), false);
  });

  test('a planted value that is not a number cannot block it either', () => {
    const e = env();
    e.sessionStorage.setItem('k', 'never');
    assert.equal(reloadOnce(e, 'k', 60_000), true);
  });
});

describe('installRuntime', () => {
  test('creates the runtime once per page, as window.__reflexSession', () => {
    const { window, deps } = setup();
    delete window.__reflexSession;
    const rs = installRuntime(deps, SETTINGS);
    assert.equal(window.__reflexSession, rs);
    assert.equal(installRuntime(deps, SETTINGS), rs);
    assert.equal(rs.seq, undefined, 'no sync before the first sync_seq');
    assert.equal(window.location.reloads, 0);
  });

  test('deletes planted cookies at start and then reloads once a minute at most', () => {
    const cookies = [{ name: 'session', value: 'planted', path: '/_event' }];
    const { window, deps, clock } = setup({ cookies });
    installRuntime(deps, SETTINGS);
    assert.equal(window.document.jar.length, 0);
    assert.equal(window.location.reloads, 1);
    assert.equal(window.sessionStorage.getItem('reflex-session-planted'), String(clock.now()));

    // planted again right after the reload: deleted again, but no second reload within a minute
    window.document.cookie = 'session=again; Path=/_event';
    delete window.__reflexSession;
    installRuntime(deps, SETTINGS);
    assert.equal(window.document.jar.length, 0);
    assert.equal(window.location.reloads, 1);
  });
});
