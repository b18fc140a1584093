import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_TIMEOUT_SECONDS,
  LockTable,
  MAX_TIMEOUT_SECONDS,
  timeoutSeconds,
} from './lock-table.ts';

function table(maxLocks?: number) {
  let now = 1_000_000;
  return {
    locks: new LockTable({ now: () => now, maxLocks }),
    advance: (ms: number) => (now += ms),
  };
}

const lock = (path: string, scope: 'exclusive' | 'shared', depth: '0' | 'infinity' = '0') => ({
  path,
  scope,
  depth,
  timeoutSeconds: 60,
});

test('lock table - exclusive conflicts with everything, shared with exclusive only', () => {
  const { locks } = table();
  const first = locks.lock(lock('a/f', 'exclusive'));
  assert.ok(first.ok);
  assert.match(first.lock.token, /^opaquelocktoken:[0-9a-f-]{36}$/);
  assert.equal(locks.lock(lock('a/f', 'exclusive')).ok, false);
  assert.equal(locks.lock(lock('a/f', 'shared')).ok, false);
  assert.ok(locks.lock(lock('a/g', 'shared')).ok);
  assert.ok(locks.lock(lock('a/g', 'shared')).ok);
  assert.equal(locks.lock(lock('a/g', 'exclusive')).ok, false);
});

test('lock table - depth infinity covers the folder and conflicts with locks under it', () => {
  const { locks } = table();
  assert.ok(locks.lock(lock('a/b/f', 'exclusive')).ok);
  const deep = locks.lock(lock('a', 'exclusive', 'infinity'));
  assert.equal(deep.ok, false);
  assert.ok(!deep.ok && deep.reason === 'conflict' && deep.with.path === 'a/b/f');
  const folder = locks.lock(lock('c', 'exclusive', 'infinity'));
  assert.ok(folder.ok);
  assert.deepEqual(
    locks.covering('c/d/e').map((l) => l.token),
    [folder.lock.token],
  );
  assert.deepEqual(locks.covering('cc'), []);
  assert.equal(locks.lock(lock('c/x', 'shared')).ok, false);
  // Depth 0 on a folder does not cover what is in it.
  assert.ok(locks.lock(lock('d', 'exclusive', '0')).ok);
  assert.deepEqual(locks.covering('d/x'), []);
  assert.ok(locks.lock(lock('d/x', 'exclusive')).ok);
  // A root lock covers everything.
  assert.equal(locks.lock(lock('', 'shared', 'infinity')).ok, false);
});

test('lock table - locks expire, refresh starts the timeout again, unlock and drop', () => {
  const { locks, advance } = table();
  const a = locks.lock(lock('f', 'exclusive'));
  const b = locks.lock(lock('g', 'exclusive'));
  assert.ok(a.ok && b.ok);
  advance(50_000);
  assert.ok(locks.refresh(a.lock.token, 'f', 60));
  assert.equal(locks.refresh(a.lock.token, 'g', 60), undefined, 'the token must cover the path');
  advance(20_000);
  assert.ok(locks.get(a.lock.token));
  assert.equal(locks.get(b.lock.token), undefined, 'b expired');
  assert.ok(locks.lock(lock('g', 'exclusive')).ok, 'an expired lock is in no one’s way');
  assert.equal(locks.unlock(a.lock.token, 'g'), false);
  assert.equal(locks.unlock(a.lock.token, 'f'), true);
  assert.equal(locks.size, 1);
  locks.drop('');
  assert.equal(locks.size, 0);
});

test('lock table - bounded: a storm of locks is refused once the table is full', () => {
  const { locks } = table(3);
  for (let i = 0; i < 3; i++) assert.ok(locks.lock(lock(`f${i}`, 'exclusive')).ok);
  const refused = locks.lock(lock('f9', 'exclusive'));
  assert.ok(!refused.ok && refused.reason === 'full');
});

test('lock table - Timeout header: Second-N, Infinite capped, default', () => {
  assert.equal(timeoutSeconds(undefined), DEFAULT_TIMEOUT_SECONDS);
  assert.equal(timeoutSeconds('Second-30'), 30);
  assert.equal(timeoutSeconds('Infinite, Second-4100000000'), MAX_TIMEOUT_SECONDS);
  assert.equal(timeoutSeconds('Second-99999999'), MAX_TIMEOUT_SECONDS);
  assert.equal(timeoutSeconds('bogus, Second-5'), 5);
});
