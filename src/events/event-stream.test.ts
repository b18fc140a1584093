import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EventStream,
  lanfsEventSchema,
  type ClusterEvent,
  type LanfsEvent,
} from './event-stream.ts';
import { serveWatch, type WatchConnection } from './serve-watch.ts';

const up = (memberId: number): ClusterEvent => ({
  type: 'member-up',
  at: 1700000000000 + memberId,
  serverId: 1,
  memberId,
  address: `127.0.0.1:${7000 + memberId}`,
});

test('event stream - every subscriber gets each event in order; unsubscribe stops it', () => {
  const stream = new EventStream({ serverId: 1 });
  const a: LanfsEvent[] = [];
  const b: LanfsEvent[] = [];
  const stopA = stream.subscribe((e) => void a.push(e));
  stream.subscribe((e) => void b.push(e));
  stream.publish(up(2));
  stopA();
  stopA(); // twice is harmless
  stream.publish(up(3));
  assert.deepEqual(
    a.map((e) => e.type === 'member-up' && e.memberId),
    [2],
  );
  assert.deepEqual(
    b.map((e) => e.type === 'member-up' && e.memberId),
    [2, 3],
  );
  assert.equal(stream.subscribers, 1);
});

test('event stream - a busy subscriber gets what queued meanwhile, in order', async () => {
  const stream = new EventStream({ serverId: 1, maxQueued: 10 });
  const got: number[] = [];
  let release: () => void = () => undefined;
  stream.subscribe((e) => {
    got.push(e.type === 'member-up' ? e.memberId : -1);
    if (got.length === 1) return new Promise<void>((r) => (release = r));
  });
  for (let id = 1; id <= 4; id++) stream.publish(up(id));
  assert.deepEqual(got, [1]);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, [1, 2, 3, 4]);
});

test('event stream - a subscriber that falls too far behind gets one lagged notice, then live events', async () => {
  const stream = new EventStream({ serverId: 7, maxQueued: 3 });
  const got: LanfsEvent[] = [];
  let release: () => void = () => undefined;
  stream.subscribe((e) => {
    got.push(e);
    if (got.length === 1) return new Promise<void>((r) => (release = r));
  });
  const fast: LanfsEvent[] = [];
  stream.subscribe((e) => void fast.push(e));
  for (let id = 1; id <= 1000; id++) stream.publish(up(id));
  assert.equal(fast.length, 1000, 'a quick subscriber misses nothing');
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 2);
  assert.deepEqual(got[1], { type: 'lagged', at: got[1]!.at, serverId: 7, dropped: 999 });
  stream.publish(up(1001));
  assert.equal(got.length, 3);
  assert.equal(got[2]!.type, 'member-up');
});

test('event stream - a listener that throws or rejects is dropped; the others go on', async () => {
  const stream = new EventStream({ serverId: 1 });
  const got: LanfsEvent[] = [];
  stream.subscribe(() => {
    throw new Error('broken listener');
  });
  stream.subscribe(async () => await Promise.reject(new Error('broken later')));
  stream.subscribe((e) => void got.push(e));
  stream.publish(up(2));
  await new Promise((r) => setImmediate(r));
  stream.publish(up(3));
  assert.equal(got.length, 2);
  assert.equal(stream.subscribers, 1);
});

test('event stream - the schema accepts every kind of event and refuses malformed ones', () => {
  const record = {
    name: 'notes/todo.txt',
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version: 1,
    primary: 1,
    replicas: [2],
    modifiedAt: 1,
  };
  const base = { at: 1, serverId: 2 };
  const events: LanfsEvent[] = [
    { type: 'record-changed', ...base, name: 'a', record, change: 'created' },
    { type: 'record-changed', ...base, name: 'a', record: null, change: 'deleted' },
    { type: 'member-up', ...base, memberId: 3, address: '10.0.0.3:7070' },
    { type: 'member-down', ...base, memberId: 3, address: '10.0.0.3:7070' },
    { type: 'conflict', ...base, name: 'a.conflict-01234567', conflictOf: 'a' },
    { type: 'copy-missing', ...base, name: 'a', holders: [1], wanted: 2 },
    { type: 'copy-made', ...base, name: 'a', on: 3 },
    { type: 'transfer-started', ...base, name: 'a', direction: 'in', via: 'tcp' },
    { type: 'transfer-finished', ...base, name: 'a', direction: 'out', bytes: 3, via: 'http' },
    { type: 'watching', ...base },
    { type: 'lagged', ...base, dropped: 4 },
  ];
  for (const event of events)
    assert.deepEqual(lanfsEventSchema.parse(JSON.parse(JSON.stringify(event))), event);
  assert.equal(lanfsEventSchema.safeParse({ type: 'record-changed', ...base }).success, false);
  assert.equal(
    lanfsEventSchema.safeParse({ ...events[0], change: 'renamed' }).success,
    false,
    'an unknown change kind',
  );
});

test('serve watch - a watching notice first, then events; a full socket waits for drain; close unsubscribes', async () => {
  const stream = new EventStream({ serverId: 4 });
  const sent: { streamId: number; body: LanfsEvent }[] = [];
  let full = false;
  let drained: () => void = () => undefined;
  let closed: (err: Error | undefined) => void = () => undefined;
  const connection: WatchConnection = {
    send: (_type, streamId, body) => {
      sent.push({ streamId, body });
      return !full;
    },
    onClose: (listener) => (closed = listener),
    drain: async () => await new Promise<void>((r) => (drained = r)),
  };
  serveWatch(connection, 9, stream);
  assert.deepEqual(
    sent.map((s) => [s.streamId, s.body.type, s.body.serverId]),
    [[9, 'watching', 4]],
  );
  full = true;
  stream.publish(up(2)); // sent; the socket is now full
  stream.publish(up(3)); // queued in the stream, not in the socket
  assert.equal(sent.length, 2);
  full = false;
  drained();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    sent.map((s) => s.body.type === 'member-up' && s.body.memberId),
    [false, 2, 3],
  );
  closed(undefined);
  assert.equal(stream.subscribers, 0);
});
