import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeDatagram, encodeDatagram, REPLAY_WINDOW_MS, ReplayFilter } from './announcement.ts';

const announce = {
  kind: 'announce' as const,
  cluster: 'lanfs',
  serverId: 3,
  instance: 'abcdef0123456789',
  host: '10.0.0.3',
  port: 7070,
  uptimeMs: 5000,
};

test('announcements - a datagram signed with the key decodes; anything forged does not', () => {
  const bytes = encodeDatagram(announce, 'secret');
  assert.equal(decodeDatagram(bytes, 'secret', 'lanfs')?.serverId, 3);
  assert.equal(decodeDatagram(bytes, 'other key', 'lanfs'), null, 'signed with another key');
  assert.equal(decodeDatagram(bytes, 'secret', 'other-cluster'), null, 'another cluster');
  assert.equal(
    decodeDatagram(encodeDatagram(announce, undefined), 'secret', 'lanfs'),
    null,
    'unsigned (insecure) datagram',
  );
  const tampered = Buffer.from(bytes);
  tampered[10] = tampered[10]! ^ 1;
  assert.equal(decodeDatagram(tampered, 'secret', 'lanfs'), null, 'one bit changed');
  assert.equal(decodeDatagram(Buffer.from('LFD1{}'), 'secret', 'lanfs'), null, 'junk');
  assert.equal(decodeDatagram(Buffer.alloc(5000), 'secret', 'lanfs'), null, 'oversized');
});

test('announcements - with unverified, a bad MAC is returned but marked', () => {
  const decoded = decodeDatagram(encodeDatagram(announce, 'secret'), 'wrong', 'lanfs', Date.now(), {
    unverified: true,
  });
  assert.equal(decoded?.verified, false);
});

test('announcements - replays are dropped: an old timestamp, or a nonce seen before', () => {
  const now = Date.now();
  const old = encodeDatagram(announce, 'secret', now - REPLAY_WINDOW_MS - 1000);
  assert.equal(decodeDatagram(old, 'secret', 'lanfs', now), null);
  const fresh = decodeDatagram(encodeDatagram(announce, 'secret', now), 'secret', 'lanfs', now)!;
  const filter = new ReplayFilter();
  assert.equal(filter.fresh(fresh, now), true);
  assert.equal(filter.fresh(fresh, now + 10), false);
});
