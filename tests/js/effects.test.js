// What the component's effects do: the sync on a new sync_seq / proof, the path-change sync, the
// expiring-soon and expiry timers, the throttled activity pull and the optional interval.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  ACTIVITY_EVENTS,
  EXPIRY_GRACE_MS,
  pathChanged,
  scheduleExpiry,
  startInterval,
  syncState,
  watchActivity,
} from '../../reflex_session/reflex/session_core.js';
import { FakeClock, fakeWindow } from './fakes.js';

/** A runtime stand-in that counts syncs. */
function counter(fields = {}) {
  const rs = { syncs: 0, ...fields };
  rs.sync = () => {
    rs.syncs += 1;
    return Promise.resolve();
  };
  return rs;
}

describe('syncState (sync_seq / sync_proof)', () => {
  test('the first value syncs only with fetchOnMount', () => {
    const on = counter();
    assert.equal(syncState(on, { seq: 5, proof: '', fetchOnMount: true }), true);
    assert.equal(on.syncs, 1);
    const off = counter();
    assert.equal(syncState(off, { seq: 5, proof: '', fetchOnMount: false }), false);
    assert.equal(off.syncs, 0);
    assert.equal(off.seq, 5, 'the value is remembered either way');
  });

  test('a new sync_seq syncs; the same one does not', () => {
    const rs = counter();
    syncState(rs, { seq: 5, proof: '', fetchOnMount: false });
    syncState(rs, { seq: 6, proof: '', fetchOnMount: false });
    assert.equal(rs.syncs, 1);
    syncState(rs, { seq: 6, proof: '', fetchOnMount: false });
    assert.equal(rs.syncs, 1);
  });

  test("a fresh state's lower sync_seq still syncs (the values are compared, not ordered)", () => {
    const rs = counter();
    syncState(rs, { seq: 900, proof: '', fetchOnMount: false });
    syncState(rs, { seq: 100, proof: '', fetchOnMount: false });
    assert.equal(rs.syncs, 1);
  });

  test('a new proof with the same sync_seq syncs, and is sent with it', () => {
    const rs = counter();
    syncState(rs, { seq: 5, proof: '', fetchOnMount: false });
    syncState(rs, { seq: 5, proof: 'proof-1', fetchOnMount: false });
    assert.equal(rs.syncs, 1);
    assert.equal(rs.proof, 'proof-1');
    syncState(rs, { seq: 5, proof: 'proof-1', fetchOnMount: false });
    assert.equal(rs.syncs, 1);
    // the proof cleared: nothing to send, no sync
    syncState(rs, { seq: 5, proof: '', fetchOnMount: false });
    assert.equal(rs.syncs, 1);
    assert.equal(rs.proof, '');
  });

  test('nothing before the state arrived (seq 0) or without a runtime', () => {
    const rs = counter();
    assert.equal(syncState(rs, { seq: 0, proof: 'x', fetchOnMount: true }), false);
    assert.equal(rs.seq, undefined);
    assert.equal(syncState(undefined, { seq: 1, proof: '', fetchOnMount: true }), false);
  });
});

describe('pathChanged', () => {
  test('syncs on a real path change only, once the runtime has a sync_seq', () => {
    const rs = counter();
    assert.equal(pathChanged(rs, '/a'), false);
    assert.equal(rs.lastPath, undefined, 'not before the first sync_seq');
    rs.seq = 1;
    assert.equal(pathChanged(rs, '/a'), false, 'the first path is only recorded');
    assert.equal(pathChanged(rs, '/a'), false);
    assert.equal(pathChanged(rs, '/b'), true);
    assert.equal(rs.syncs, 1);
    assert.equal(pathChanged(undefined, '/c'), false);
  });
});

describe('scheduleExpiry', () => {
  function arm(props, rs = counter()) {
    const clock = new FakeClock();
    let soon = 0;
    const deps = {
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
      now: clock.now,
      runtime: () => rs,
    };
    const cleanup = scheduleExpiry(
      deps,
      {
        status: 'authenticated',
        isExpiringSoon: false,
        soonMs: 60_000,
        onSoon: () => {
          soon += 1;
        },
        ...props(clock.now()),
      },
    );
    return { clock, rs, cleanup, soon: () => soon };
  }

  test('one expiring-soon event at expiry - soonMs, one sync just after expiry', () => {
    const { clock, rs, soon } = arm((now) => ({ expiresAt: now + 300_000 }));
    assert.deepEqual(clock.pending(), [240_000, 300_000 + EXPIRY_GRACE_MS]);
    clock.advance(239_999);
    assert.equal(soon(), 0);
    clock.advance(1);
    assert.equal(soon(), 1);
    clock.advance(60_000 + EXPIRY_GRACE_MS - 1);
    assert.equal(rs.syncs, 0);
    clock.advance(1);
    assert.equal(rs.syncs, 1);
    assert.equal(soon(), 1);
  });

  test('already flagged expiring soon: only the expiry timer', () => {
    const { clock } = arm((now) => ({ expiresAt: now + 30_000, isExpiringSoon: true }));
    assert.deepEqual(clock.pending(), [30_000 + EXPIRY_GRACE_MS]);
  });

  test('moments already past fire at once', () => {
    const { clock } = arm((now) => ({ expiresAt: now - 5_000 }));
    assert.deepEqual(clock.pending(), [0, 0]);
  });

  test('nothing when signed out or without an expiry', () => {
    for (const props of [{ status: 'unauthenticated', expiresAt: 1 }, { status: 'loading', expiresAt: 1 }, { expiresAt: 0 }]) {
      const { clock, cleanup } = arm(() => props);
      assert.equal(cleanup, undefined);
      assert.deepEqual(clock.pending(), []);
    }
  });

  test('the cleanup clears both timers (a new expiry re-arms them)', () => {
    const { clock, cleanup, soon, rs } = arm((now) => ({ expiresAt: now + 300_000 }));
    cleanup();
    assert.deepEqual(clock.pending(), []);
    clock.advance(1_000_000);
    assert.equal(soon(), 0);
    assert.equal(rs.syncs, 0);
  });

  test('the runtime is looked up when the timer fires (a replaced sync is the one called)', () => {
    const rs = counter();
    const { clock } = arm((now) => ({ expiresAt: now + 1_000 }), rs);
    let replaced = 0;
    rs.sync = () => {
      replaced += 1;
    };
    clock.advance(2_000);
    assert.equal(replaced, 1);
    assert.equal(rs.syncs, 0);
  });
});

describe('watchActivity', () => {
  function watch({ lastActivity, thresholdMs = 60_000, rs = counter(), status = 'authenticated', clock = new FakeClock() } = {}) {
    const window = fakeWindow();
    const la = lastActivity ?? clock.now() - 120_000;
    const cleanup = watchActivity(
      { window, now: clock.now, runtime: () => rs },
      { status, lastActivity: la, thresholdMs },
    );
    return { window, clock, rs, cleanup };
  }

  test('listens to pointer, key, touch, wheel and scroll, passively', () => {
    const { window } = watch();
    assert.deepEqual(ACTIVITY_EVENTS, ['pointermove', 'pointerdown', 'keydown', 'touchstart', 'wheel', 'scroll']);
    for (const name of ACTIVITY_EVENTS) {
      const [listener] = window.listeners.get(name);
      assert.deepEqual(listener.options, { passive: true });
    }
  });

  test('activity on a cookie older than the threshold pulls once', () => {
    const { window, rs, clock } = watch();
    window.dispatch('keydown');
    assert.equal(rs.syncs, 1);
    assert.equal(rs.lastPull, clock.now());
  });

  test('a cookie younger than the threshold is not pulled', () => {
    const clock = new FakeClock();
    const { window, rs } = watch({ clock, lastActivity: clock.now() - 59_999 });
    window.dispatch('pointermove');
    assert.equal(rs.syncs, 0);
  });

  test('checks at most once a second', () => {
    const clock = new FakeClock();
    // the first check finds a young cookie; the cookie ages, but the next check waits a second
    const { window, rs } = watch({ clock, lastActivity: clock.now() - 59_500 });
    window.dispatch('pointermove');
    clock.advance(600);
    window.dispatch('pointermove');
    assert.equal(rs.syncs, 0, 'throttled: no check 0.6 s after the last one');
    clock.advance(400);
    window.dispatch('pointermove');
    assert.equal(rs.syncs, 1);
  });

  test('at most one pull per threshold window, even across re-armed listeners', () => {
    const clock = new FakeClock();
    const rs = counter();
    const first = watch({ clock, rs });
    first.window.dispatch('wheel');
    assert.equal(rs.syncs, 1);
    first.cleanup();
    // the effect re-runs (a re-issued cookie, iat rounded down): the runtime remembers the pull
    const again = watch({ clock, rs, lastActivity: clock.now() - 70_000 });
    clock.advance(30_000);
    again.window.dispatch('wheel');
    assert.equal(rs.syncs, 1);
    clock.advance(30_000);
    again.window.dispatch('wheel');
    assert.equal(rs.syncs, 2);
  });

  test('no runtime yet: nothing, and the second is not used up', () => {
    const clock = new FakeClock();
    const page = { rs: undefined };
    const window = fakeWindow();
    watchActivity(
      { window, now: clock.now, runtime: () => page.rs },
      { status: 'authenticated', lastActivity: 0, thresholdMs: 1 },
    );
    window.dispatch('keydown');
    page.rs = counter();
    window.dispatch('keydown');
    assert.equal(page.rs.syncs, 1);
  });

  test('signed out: no listeners; the cleanup removes them all', () => {
    const out = watch({ status: 'unauthenticated' });
    assert.equal(out.cleanup, undefined);
    assert.equal(out.window.listeners.size, 0);
    const on = watch();
    on.cleanup();
    for (const name of ACTIVITY_EVENTS) assert.deepEqual(on.window.listeners.get(name), []);
  });
});

describe('startInterval', () => {
  test('a sync every intervalMs while signed in, until cleaned up', () => {
    const clock = new FakeClock();
    const rs = counter();
    const deps = { setInterval: clock.setInterval, clearInterval: clock.clearInterval, runtime: () => rs };
    const cleanup = startInterval(deps, { status: 'authenticated', intervalMs: 5_000 });
    clock.advance(15_000);
    assert.equal(rs.syncs, 3);
    cleanup();
    clock.advance(15_000);
    assert.equal(rs.syncs, 3);
  });

  test('off without an interval or when signed out', () => {
    const clock = new FakeClock();
    const deps = { setInterval: clock.setInterval, clearInterval: clock.clearInterval, runtime: () => counter() };
    assert.equal(startInterval(deps, { status: 'authenticated', intervalMs: 0 }), undefined);
    assert.equal(startInterval(deps, { status: 'unauthenticated', intervalMs: 5_000 }), undefined);
    assert.deepEqual(clock.pending(), []);
  });
});
