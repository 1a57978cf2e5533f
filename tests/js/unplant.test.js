// Deleting cookies a script planted under our names: every path and domain they can sit on,
// never an HttpOnly cookie, never a sibling app's session cookie on a parent domain.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  cookieDomains,
  cookiePaths,
  unplant,
  visibleCookieNames,
} from '../../reflex_session/reflex/session_core.js';
import { FakeDocument, FakeLocation, SETTINGS } from './fakes.js';

function page(cookies, href = 'http://app.example.com/dashboard') {
  return { document: new FakeDocument(cookies), location: new FakeLocation(href) };
}

describe('where a planted cookie can be', () => {
  test("every prefix of the websocket's and the sync endpoint's paths, and /", () => {
    const paths = cookiePaths('/api/session/sync');
    for (const p of ['/', '/_', '/_event', '/_event/', '/a', '/api', '/api/', '/api/session', '/api/session/sync']) {
      assert.ok(paths.has(p), p);
    }
    assert.equal(paths.size, new Set(paths).size);
    assert.equal(paths.size, 1 + '/_event/'.length - 1 + '/api/session/sync'.length - 1);
  });

  test('host-only, this host and each parent domain, never a bare top-level domain', () => {
    assert.deepEqual(cookieDomains('app.example.com'), [
      '',
      '; Domain=app.example.com',
      '; Domain=example.com',
    ]);
    assert.deepEqual(cookieDomains('localhost'), ['']);
    assert.equal(cookieDomains('127.0.0.1').length, 4);
  });

  test('only the names of visible cookies are taken', () => {
    const { document } = page([
      { name: 'a', value: 'secret-a' },
      { name: 'b', value: 'x=y' },
    ]);
    assert.deepEqual(visibleCookieNames(document), ['a', 'b']);
  });
});

describe('unplant', () => {
  test('deletes a planted binding cookie on a parent domain and on a longer path', () => {
    const p = page([
      { name: 'session_bind', value: 'known', domain: 'example.com' },
      { name: '__Host-session_bind', value: 'known', path: '/_event/' },
    ]);
    assert.equal(unplant(p, SETTINGS), true);
    assert.deepEqual(p.document.jar, []);
  });

  test("deletes a planted session cookie on this host only: a parent domain's may be a sibling app's", () => {
    const sibling = { name: 'session', value: 'theirs', domain: 'example.com' };
    const p = page([sibling, { name: 'session', value: 'planted', path: '/api/session' }]);
    assert.equal(unplant(p, SETTINGS), false, 'the name is still visible: the sibling cookie');
    assert.deepEqual(p.document.jar, [{ ...sibling, path: '/', httpOnly: false }]);
    for (const write of p.document.writes.filter((w) => w.startsWith('session='))) {
      assert.doesNotMatch(write, /Domain=/);
    }
  });

  test('never touches HttpOnly cookies (ours) or cookies of other names', () => {
    const ours = { name: 'session', value: 'real', httpOnly: true };
    const other = { name: 'theme', value: 'dark' };
    const p = page([ours, other]);
    assert.equal(unplant(p, SETTINGS), false);
    assert.equal(p.document.jar.length, 2);
    for (const write of p.document.writes) assert.doesNotMatch(write, /^theme=/);
  });

  test('writes only deletions, with no value, and Secure on https', () => {
    const p = page([], 'https://app.example.com/');
    unplant(p, SETTINGS);
    assert.ok(p.document.writes.length > 0);
    for (const write of p.document.writes) {
      assert.match(write, /^[\w-]+=; Max-Age=0; Path=\/[^;]*(; Domain=[\w.]+)?; Secure$/);
    }
    const q = page([]);
    unplant(q, SETTINGS);
    for (const write of q.document.writes) assert.doesNotMatch(write, /Secure/);
  });

  test('the binding names are deleted on every path x domain, the session names on every path', () => {
    const p = page([]);
    unplant(p, SETTINGS);
    const paths = cookiePaths(SETTINGS.syncPath).size;
    const count = (name) => p.document.writes.filter((w) => w.startsWith(`${name}=;`)).length;
    assert.equal(count('session_bind'), paths * 3);
    assert.equal(count('__Host-session_bind'), paths * 3);
    assert.equal(count('session'), paths);
    assert.equal(count('__Host-session'), paths);
  });

  test('reports a removal only for a name that was visible before and is gone after', () => {
    assert.equal(unplant(page([]), SETTINGS), false);
    assert.equal(unplant(page([{ name: 'session', value: 'p' }]), SETTINGS), true);
  });
});
