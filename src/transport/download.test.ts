/**
 * RequestStreams.download against a scripted server on the other end of an
 * in-memory connection: the sha256 check on both hash paths (in place, and on the
 * thread for large files), and what a download that must wait does to the socket.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type Duplex, PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import type { FileRecord } from '../protocol/messages.ts';
import { THREAD_MIN_BYTES, hashThreadForTest } from '../shared/stream-hash.ts';
import { connectionPair } from './memory-pair.ts';
import { RequestStreams } from './request-streams.ts';
import type { Connection } from './connection.ts';

const recordOf = (bytes: Buffer, sha256 = createHash('sha256').update(bytes).digest('hex')) =>
  ({
    name: 'f.bin',
    fileId: 'f00df00df00df00d',
    size: bytes.length,
    sha256,
    version: 1,
    primary: 1,
    replicas: [],
    modifiedAt: 0,
  }) satisfies FileRecord;

/** A server that answers DOWNLOAD with record and bytes; `beforeEnd` runs before END. */
function serve(
  server: Connection,
  record: FileRecord,
  bytes: Buffer,
  beforeEnd: () => Promise<void> = async () => {},
): void {
  server.setHandler((message) => {
    if (message.type !== 'DOWNLOAD') return;
    void (async () => {
      const id = message.streamId;
      server.send('FILE', id, { record, offset: 0 });
      for (let at = 0; at < bytes.length; at += DATA_CHUNK_BYTES) {
        if (!server.sendData(id, bytes.subarray(at, at + DATA_CHUNK_BYTES))) await server.drain();
      }
      await beforeEnd();
      server.send('END', id, { size: bytes.length, sha256: record.sha256 });
    })();
  });
}

/** A sink that keeps only a hash of what it got. */
function hashingSink(): Writable & { digest: () => string } {
  const hash = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done();
    },
  });
  return Object.assign(sink, { digest: () => hash.digest('hex') });
}

for (const [path, size] of [
  ['in place', 100_000],
  ['on the thread', THREAD_MIN_BYTES + 1_234_567],
] as const) {
  test(`download - the bytes checked ${path}: right bytes pass, a wrong sha256 is refused`, async (t) => {
    const bytes = randomBytes(size);
    {
      const [client, server] = connectionPair();
      t.after(() => client.destroy());
      serve(server, recordOf(bytes), bytes);
      const sink = hashingSink();
      const record = await new RequestStreams(client, 10_000, 'silent').download('f.bin', sink);
      assert.equal(record.size, size);
      assert.equal(sink.digest(), record.sha256);
    }
    {
      const [client, server] = connectionPair();
      t.after(() => client.destroy());
      serve(server, recordOf(bytes, 'b'.repeat(64)), bytes);
      await assert.rejects(
        new RequestStreams(client, 10_000, 'silent').download('f.bin', hashingSink()),
        (err: Error & { code?: string }) =>
          err.code === 'LANFS_ERR_CHECKSUM_MISMATCH' &&
          /did not match their sha256/.test(err.message),
      );
    }
  });
}

test('download - a hash thread that dies fails the download with a sentence, and the next one works', async (t) => {
  const bytes = randomBytes(THREAD_MIN_BYTES + 3 * DATA_CHUNK_BYTES);
  const [client, server] = connectionPair();
  t.after(() => client.destroy());
  // The thread is stopped while the file is on its way: before END.
  serve(server, recordOf(bytes), bytes, async () => await hashThreadForTest.crash());
  await assert.rejects(
    new RequestStreams(client, 10_000, 'silent').download('f.bin', hashingSink()),
    (err: Error & { code?: string }) =>
      err.code === 'LANFS_ERR_INTERNAL' && /could not be checked .*try again/.test(err.message),
  );
  const [again, server2] = connectionPair();
  t.after(() => again.destroy());
  serve(server2, recordOf(bytes), bytes);
  const record = await new RequestStreams(again, 10_000, 'silent').download('f.bin', hashingSink());
  assert.equal(record.size, bytes.length);
});

test('download - a slow sink holds the socket; the socket reads on once it drains, and after the download', async (t) => {
  const bytes = randomBytes(6 * DATA_CHUNK_BYTES);
  const [client, server] = connectionPair();
  t.after(() => client.destroy());
  serve(server, recordOf(bytes), bytes);
  // A sink that takes its time: 16 KiB of room, each write done on a later turn.
  const sink = new PassThrough({ highWaterMark: 16 * 1024 });
  const got: Buffer[] = [];
  sink.on('data', (c: Buffer) => {
    sink.pause();
    got.push(c);
    setImmediate(() => sink.resume());
  });
  const record = await new RequestStreams(client, 10_000, 'silent').download('f.bin', sink);
  assert.equal(record.sha256, createHash('sha256').update(bytes).digest('hex'));
  // Every hold was let go: the socket reads again.
  assert.equal((client.socket as unknown as Duplex).isPaused(), false);
});

test('connection - reading resumes only when every pause has had its resume', async (t) => {
  const [a, b] = connectionPair();
  t.after(() => a.destroy());
  const got: string[] = [];
  a.setHandler((message) => got.push(message.type));
  a.pause();
  a.pause();
  b.send('STATUS', 1, {});
  await new Promise((r) => setTimeout(r, 20));
  a.resume();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, [], 'one pause is still held');
  a.resume();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['STATUS']);
  a.resume(); // one too many does not break the count
  a.pause();
  b.send('STATUS', 2, {});
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['STATUS']);
});
