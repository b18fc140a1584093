import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../shared/errors.ts';
import { encodeFrame } from './frame.ts';
import { FrameDecoder } from './frame-decoder.ts';
import {
  decodeMessage,
  encodeMessage,
  fileRecordSchema,
  MessageType,
  pageDelta,
  pageRecords,
  RECORD_PAGE_BYTES,
  type TombstoneRef,
} from './messages.ts';

function roundTrip(bytes: Buffer) {
  const frames = new FrameDecoder().push(bytes);
  assert.equal(frames.length, 1);
  return decodeMessage(frames[0]!);
}

test('messages - encode then decode gives the same message', () => {
  const record = {
    name: 'a/b.txt',
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version: 2,
    primary: 1,
    replicas: [2],
    modifiedAt: 1700000000000,
  };
  const message = roundTrip(encodeMessage('LIST_PAGE', 5, { records: [record], done: true }));
  assert.deepEqual(message, {
    type: 'LIST_PAGE',
    streamId: 5,
    body: { records: [record], done: true },
  });
  const data = roundTrip(encodeFrame(MessageType.DATA, 9, Buffer.from('raw bytes')));
  assert.deepEqual(data, { type: 'DATA', streamId: 9, bytes: Buffer.from('raw bytes') });
});

test('messages - bad JSON and schema violations are protocol errors naming the message', () => {
  assert.throws(
    () => roundTrip(encodeFrame(MessageType.CREATE, 1, Buffer.from('{not json'))),
    (e: ProtocolError) =>
      e instanceof ProtocolError && /CREATE message is not valid JSON/.test(e.message),
  );
  assert.throws(
    () => roundTrip(encodeFrame(MessageType.CREATE, 1, Buffer.from('{"name":5}'))),
    /CREATE message is malformed \(at name\)/,
  );
  assert.throws(
    () => roundTrip(encodeFrame(MessageType.END, 1, Buffer.from('{"size":-1,"sha256":"x"}'))),
    /END message is malformed/,
  );
});

test('messages - WATCH and EVENT round-trip, and an event of an unknown kind is refused', () => {
  assert.deepEqual(roundTrip(encodeMessage('WATCH', 3, {})), {
    type: 'WATCH',
    streamId: 3,
    body: {},
  });
  const event = {
    type: 'record-changed' as const,
    at: 1700000000000,
    serverId: 2,
    name: 'notes/todo.txt',
    record: null,
    change: 'deleted' as const,
  };
  assert.deepEqual(roundTrip(encodeMessage('EVENT', 3, event)), {
    type: 'EVENT',
    streamId: 3,
    body: event,
  });
  const member = { type: 'member-down' as const, at: 1, serverId: 1, memberId: 3, address: '' };
  assert.deepEqual(roundTrip(encodeMessage('EVENT', 4, member)).type, 'EVENT');
  assert.throws(
    () =>
      roundTrip(
        encodeFrame(MessageType.EVENT, 3, Buffer.from('{"type":"rumour","at":1,"serverId":1}')),
      ),
    /EVENT message is malformed/,
  );
});

test('messages - records in bulk (PEER_RECORDS, LIST_PAGE) are taken and refused exactly as fileRecordSchema takes them', () => {
  const base = {
    name: 'a/b.txt',
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version: 2,
    primary: 1,
    replicas: [2],
    modifiedAt: 1700000000000,
  };
  const variants: Record<string, unknown>[] = [
    base,
    { ...base, lineage: 'abcdef01', conflictOf: 'x', available: false, writtenBy: 'host' },
    { ...base, metadata: { k: 'v' }, placedAmong: [{ id: 2, files: 4 }] },
    { ...base, unknownField: 1 },
    { ...base, size: -1 },
    { ...base, version: 0 },
    { ...base, replicas: [0] },
    { ...base, sha256: 'A'.repeat(64) },
    { ...base, name: '' },
    { ...base, lineage: 'abc' },
    { ...base, size: 2 ** 60 },
    { ...base, modifiedAt: undefined },
    { name: 'only-a-name' },
  ];
  for (const variant of variants) {
    const json = JSON.parse(JSON.stringify(variant)) as unknown;
    const expected = fileRecordSchema.safeParse(json);
    const decode = (): unknown =>
      roundTrip(encodeMessage('LIST_PAGE', 1, { records: [base, json as never], done: true }));
    if (expected.success) {
      const message = decode() as { body: { records: unknown[] } };
      assert.deepEqual(message.body.records[1], expected.data, JSON.stringify(variant));
    } else {
      assert.throws(
        decode,
        /LIST_PAGE message is malformed \(at records\.1/,
        JSON.stringify(variant),
      );
    }
  }
});

test('messages - pages of records stay under their bound whatever the records carry', () => {
  const longest = {
    name: '\u0001'.repeat(4096),
    fileId: 'f'.repeat(64),
    size: Number.MAX_SAFE_INTEGER,
    sha256: 'a'.repeat(64),
    version: Number.MAX_SAFE_INTEGER,
    primary: Number.MAX_SAFE_INTEGER,
    replicas: Array.from({ length: 20 }, (_, i) => Number.MAX_SAFE_INTEGER - i),
    modifiedAt: -1.2345678901234567e300,
    available: false,
    conflictOf: '"'.repeat(4096),
    requestId: 'r'.repeat(64),
    lineage: 'abcdef01'.repeat(32),
    contentType: '\\'.repeat(256),
    writtenBy: 'h'.repeat(255),
    s3ETag: `${'a'.repeat(32)}-99999`,
    placedAmong: Array.from({ length: 64 }, () => ({
      id: Number.MAX_SAFE_INTEGER,
      files: Number.MAX_SAFE_INTEGER,
      bytes: Number.MAX_SAFE_INTEGER,
      capacity: Number.MAX_SAFE_INTEGER,
    })),
    metadata: { k: '\u0002'.repeat(2000) },
  };
  const plain = {
    name: 'a/b.txt',
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version: 2,
    primary: 1,
    replicas: [2],
    modifiedAt: 1700000000000,
  };
  for (const record of [longest, plain]) {
    const pages = pageRecords(Array.from({ length: 3000 }, () => record));
    for (const page of pages)
      assert.ok(
        Buffer.byteLength(JSON.stringify({ records: page })) <= RECORD_PAGE_BYTES,
        `a page of ${page.length} records is larger than RECORD_PAGE_BYTES`,
      );
    assert.equal(pages.flat().length, 3000);
  }
});

test('messages - capacity travels in PEER_HEARTBEAT and placedAmong, and stays optional for older peers', () => {
  const heartbeat = { instance: 'feedfeedfeedfeed', version: 3, files: 2, capacity: 1_000_000 };
  assert.deepEqual(roundTrip(encodeMessage('PEER_HEARTBEAT', 0, heartbeat)), {
    type: 'PEER_HEARTBEAT',
    streamId: 0,
    body: heartbeat,
  });
  const old = { instance: 'feedfeedfeedfeed', version: 3, files: 2 };
  assert.deepEqual(roundTrip(encodeMessage('PEER_HEARTBEAT', 0, old)), {
    type: 'PEER_HEARTBEAT',
    streamId: 0,
    body: old,
  });
  const record = {
    name: 'a.txt',
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version: 1,
    primary: 1,
    replicas: [3],
    modifiedAt: 1700000000000,
    placedAmong: [
      { id: 2, files: 4, bytes: 4000, capacity: 1_000_000 },
      { id: 3, files: 1 },
    ],
  };
  assert.deepEqual(roundTrip(encodeMessage('LIST_PAGE', 1, { records: [record], done: true })), {
    type: 'LIST_PAGE',
    streamId: 1,
    body: { records: [record], done: true },
  });
});

test('messages - a delta with a name of many tombstones goes in pages that each encode and decode, the name before its tombstones', () => {
  const longName = `${'ü/'.repeat(200)}doc.txt`;
  const record = (name: string) => ({
    name,
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version: 2,
    primary: 1,
    replicas: [2],
    modifiedAt: 1700000000000,
  });
  // An editor's lock file saved over and over while one holder was down: one tombstone each.
  const tombstonesOf = (name: string): TombstoneRef[] =>
    Array.from({ length: name === longName ? 12_000 : 2 }, (_, i) => ({
      name,
      fileId: i.toString(16).padStart(16, '0'),
      version: 1,
      deletedAt: 1_764_000_000_000 + i,
    }));
  const records = [record('a.txt'), record(longName), record('b.txt')];
  const others = tombstonesOf('gone.txt');
  const pages = pageDelta(records, ['c.txt', longName + '.old'], tombstonesOf, others);
  assert.ok(pages.length > 1, 'all in one page');
  const seen = new Set<string>();
  for (const [i, page] of pages.entries()) {
    const body = {
      instance: 'feedfeedfeedfeed',
      version: 3,
      baseVersion: 2,
      full: false,
      reset: false,
      done: i === pages.length - 1,
      ...page,
      everyTombstone: true,
    };
    // Throws (a RangeError) when a page is over the frame's limit; the decode checks the counts.
    assert.deepEqual(roundTrip(encodeMessage('PEER_RECORDS', 0, body)), {
      type: 'PEER_RECORDS',
      streamId: 0,
      body,
    });
    for (const r of page.records) seen.add(r.name);
    for (const name of page.removed) seen.add(name);
    for (const t of page.tombstones)
      assert.ok(
        t.name === 'gone.txt' || seen.has(t.name),
        `a tombstone of ${t.name} before its name`,
      );
  }
  const all = pages.flatMap((p) => p.tombstones);
  assert.equal(all.length, 12_000 + 2 + 2 + 2 + 2 + 2);
  assert.deepEqual(
    pages.flatMap((p) => p.records).map((r) => r.name),
    ['a.txt', longName, 'b.txt'],
  );
});
