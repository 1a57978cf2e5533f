// The demo's local times (demo/local_time_core.js): the expiry in the user's zone and words.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  formatAbsolute,
  formatRelative,
  localTimeView,
  makeLocalTime,
} from '../../demo/local_time_core.js';

// 2026-12-06T03:05:00Z: 12:05 in Tokyo, 22:05 the day before in New York
const NOW = Date.UTC(2026, 11, 6, 3, 5, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

describe('formatAbsolute', () => {
  test('the same moment in the zone asked for, with the zone named', () => {
    assert.equal(formatAbsolute(NOW, 'en-US', 'Asia/Tokyo'), 'Sun, Dec 6, 12:05 PM GMT+9');
    assert.equal(formatAbsolute(NOW, 'en-US', 'America/New_York'), 'Sat, Dec 5, 10:05 PM EST');
    assert.equal(formatAbsolute(NOW, 'en-US', 'UTC'), 'Sun, Dec 6, 3:05 AM UTC');
  });

  test("the user's locale orders and words it", () => {
    assert.match(formatAbsolute(NOW, 'de-DE', 'Europe/Berlin'), /^So\., 6\. Dez\., 04:05 MEZ$/);
  });
});

describe('formatRelative', () => {
  const rel = (ms) => formatRelative(NOW + ms, NOW, 'en-US');

  test('rounded to the largest unit', () => {
    assert.equal(rel(8 * HOUR), 'in 8 hours');
    assert.equal(rel(7 * HOUR + 59 * MIN), 'in 8 hours');
    assert.equal(rel(7 * HOUR + 10 * MIN), 'in 7 hours');
    assert.equal(rel(5 * MIN), 'in 5 minutes');
    assert.equal(rel(4 * MIN + 40_000), 'in 5 minutes');
    assert.equal(rel(60_000), 'in 1 minute');
    assert.equal(rel(50 * MIN), 'in 1 hour');
    assert.equal(rel(3 * 24 * HOUR), 'in 3 days');
  });

  test('a few seconds either way, and the past', () => {
    assert.equal(rel(10_000), 'in a few seconds');
    assert.equal(rel(0), 'in a few seconds');
    assert.equal(rel(-10_000), 'a few seconds ago');
    assert.equal(rel(-3 * MIN), '3 minutes ago');
  });

  test('Intl words it in the locale', () => {
    assert.equal(formatRelative(NOW + 5 * MIN, NOW, 'fr-FR'), 'dans 5 minutes');
  });
});

describe('localTimeView', () => {
  test('a session: ISO for <time>, the local text and the words', () => {
    const view = localTimeView(NOW + 8 * HOUR, NOW, 'en-US', 'Asia/Tokyo');
    assert.deepEqual(view, {
      iso: '2026-12-06T11:05:00.000Z',
      absolute: 'Sun, Dec 6, 8:05 PM GMT+9',
      relative: 'in 8 hours',
    });
  });

  test('no time (signed out, not loaded): nothing', () => {
    for (const missing of [0, -1, null, undefined, Number.NaN, '123']) {
      assert.deepEqual(localTimeView(missing, NOW, 'en-US', 'UTC'), {
        iso: '',
        absolute: '',
        relative: '',
      });
    }
  });
});

describe('makeLocalTime', () => {
  const fakeReact = () => {
    const effects = [];
    return {
      effects,
      createElement: (type, props, text) => ({ type, props, text }),
      useEffect: (fn) => effects.push(fn),
      useState: (initial) => [initial, () => {}],
    };
  };

  test('renders a <time> with the props given, ticking on a timer it clears', () => {
    const react = fakeReact();
    const timers = [];
    const win = {
      setInterval: (fn, ms) => timers.push({ fn, ms }) && timers.length,
      clearInterval: (id) => timers.splice(id - 1, 1),
    };
    const LocalTime = makeLocalTime({ ...react, now: () => NOW, getWindow: () => win });
    const out = LocalTime({ timestamp: NOW + 5 * MIN, id: 'session-expiry' });
    assert.equal(out.type, 'time');
    assert.equal(out.props.id, 'session-expiry');
    assert.equal(out.props.dateTime, '2026-12-06T03:10:00.000Z');
    assert.match(out.text, /\(in 5 minutes\)$/);
    const cleanup = react.effects[0]();
    assert.equal(timers.length, 1);
    cleanup();
    assert.equal(timers.length, 0);
  });

  test('no timestamp: an empty <time>, no dateTime', () => {
    const react = fakeReact();
    const LocalTime = makeLocalTime({ ...react, now: () => NOW, getWindow: () => undefined });
    const out = LocalTime({ timestamp: 0 });
    assert.equal(out.text, '');
    assert.equal(out.props.dateTime, undefined);
    assert.equal(react.effects[0](), undefined, 'no window: no timer');
  });
});
