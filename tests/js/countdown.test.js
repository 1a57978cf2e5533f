// The countdown: its text, its data attributes, and its ticking on the session's whole seconds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  countdownProps,
  countdownView,
  msToNextSecond,
  startTicker,
} from '../../reflex_session/reflex/session_core.js';
import { FakeClock } from './fakes.js';

const NOW = 1_700_000_000_000;
const view = (leftMs, soonMs = 60_000, expiredText = undefined) =>
  countdownView(NOW + leftMs, NOW, soonMs, expiredText);

describe('countdownView', () => {
  test('m:ss under an hour, h:mm:ss from an hour, rounded down to the second', () => {
    assert.equal(view(299_999).text, '4:59');
    assert.equal(view(300_000).text, '5:00');
    assert.equal(view(9_000).text, '0:09');
    assert.equal(view(999).text, '0:00');
    assert.equal(view(59 * 60_000 + 59_999).text, '59:59');
    assert.equal(view(3_600_000).text, '1:00:00');
    assert.equal(view(3_600_000 + 65_000).text, '1:01:05');
    assert.equal(view(36 * 3_600_000 + 5_000).text, '36:00:05');
  });

  test('at and after expiry: 0:00, or the expired text', () => {
    assert.equal(view(0).text, '0:00');
    assert.equal(view(-5_000).text, '0:00');
    assert.equal(view(-5_000).ms, 0);
    assert.equal(view(0, 60_000, 'Expired').text, 'Expired');
    assert.equal(view(0, 60_000, '').text, '', 'an empty expired text is kept');
  });

  test('without a session: no text, 0 ms, not expiring soon', () => {
    for (const expiresAt of [0, null, undefined]) {
      assert.deepEqual(countdownView(expiresAt, NOW, 60_000), { ms: 0, text: '', soon: false });
    }
  });

  test('expiring soon within soonMs of expiry, not once expired', () => {
    assert.equal(view(60_001).soon, false);
    assert.equal(view(60_000).soon, true);
    assert.equal(view(1).soon, true);
    assert.equal(view(0).soon, false);
    assert.equal(countdownView(NOW + 1_000, NOW, undefined).soon, false, 'no soonMs: never soon');
  });
});

describe('countdownProps', () => {
  test('data-expires-in, data-expiring-soon, role=timer, aria-live=off; other props kept', () => {
    const props = countdownProps({ id: 'countdown', className: 'x' }, view(61_500));
    assert.deepEqual(props, {
      id: 'countdown',
      className: 'x',
      'data-expires-in': 61_500,
      'data-expiring-soon': 'false',
      role: 'timer',
      'aria-live': 'off',
    });
    assert.equal(countdownProps({}, view(1_000))['data-expiring-soon'], 'true');
  });

  test('the timer semantics cannot be overridden by a prop', () => {
    const props = countdownProps({ role: 'button', 'data-expires-in': 5 }, view(1_000));
    assert.equal(props.role, 'timer');
    assert.equal(props['data-expires-in'], 1_000);
  });
});

describe('ticking', () => {
  test('msToNextSecond: to the next whole second of the session, a full second when on one', () => {
    assert.equal(msToNextSecond(NOW + 4_500, NOW), 500);
    assert.equal(msToNextSecond(NOW + 4_001, NOW), 1);
    assert.equal(msToNextSecond(NOW + 4_000, NOW), 1000);
    assert.equal(msToNextSecond(NOW - 300, NOW), 700, 'past expiry too');
  });

  test('ticks at once, then 5 ms after each whole second of the session', () => {
    const clock = new FakeClock(NOW);
    const ticks = [];
    const stop = startTicker(clock, NOW + 10_250, (t) => ticks.push(t));
    assert.deepEqual(ticks, [NOW]);
    assert.deepEqual(clock.pending(), [255]);
    clock.advance(3_000);
    assert.deepEqual(ticks, [NOW, NOW + 255, NOW + 1_255, NOW + 2_255]);
    for (const t of ticks.slice(1)) {
      assert.equal((NOW + 10_250 - t) % 1000, 995, 'just after a whole second: the value is fresh');
    }
    stop();
    clock.advance(5_000);
    assert.equal(ticks.length, 4);
    assert.deepEqual(clock.pending(), []);
  });

  test('no session: no ticking', () => {
    const clock = new FakeClock(NOW);
    const ticks = [];
    assert.equal(startTicker(clock, 0, (t) => ticks.push(t)), undefined);
    assert.deepEqual(ticks, []);
    assert.deepEqual(clock.pending(), []);
  });
});
