import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { streamHash, THREAD_MIN_BYTES } from './stream-hash.ts';

const MIB = 1024 * 1024;

/** Feeds bytes in pieces of the given sizes (cycled), as a socket hands them over. */
function feed(hash: ReturnType<typeof streamHash>, bytes: Buffer, pieces: number[]): void {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = pieces[i % pieces.length]!;
    hash.update(bytes.subarray(at, at + size));
    at += size;
  }
}

test('stream hash - a large stream hashed on the thread has the same digest as in place', async () => {
  const bytes = randomBytes(THREAD_MIN_BYTES + 3 * MIB + 12_345);
  const expected = createHash('sha256').update(bytes).digest('hex');
  // Pieces that straddle the thread's batches, as a socket's 64 KiB reads and the
  // 12-byte frame headers cut them.
  const hash = streamHash('sha256', bytes.length);
  feed(hash, bytes, [65_536 - 12, 65_536, 1, 300_000]);
  assert.equal(await hash.digest(), expected);
});

test('stream hash - the caller may reuse its buffer as soon as update returns', async () => {
  const size = THREAD_MIN_BYTES + MIB;
  const bytes = randomBytes(size);
  const expected = createHash('sha256').update(bytes).digest('hex');
  const hash = streamHash('sha256', size);
  const reused = Buffer.alloc(64 * 1024);
  for (let at = 0; at < size; at += reused.length) {
    bytes.copy(reused, 0, at, at + reused.length);
    hash.update(reused.subarray(0, Math.min(reused.length, size - at)));
    reused.fill(0xee); // what a socket does with its buffer next
  }
  assert.equal(await hash.digest(), expected);
});

test('stream hash - several large streams at once keep their own digests', async () => {
  const streams = [0, 1, 2].map((i) => randomBytes(THREAD_MIN_BYTES + i * 777_777));
  const hashes = streams.map((b) => streamHash('sha256', b.length));
  // Interleaved, as three downloads on one process would be.
  for (let at = 0; at < streams[2]!.length; at += 100_000)
    streams.forEach((b, i) => {
      if (at < b.length) hashes[i]!.update(b.subarray(at, at + 100_000));
    });
  const digests = await Promise.all(hashes.map((h) => h.digest()));
  digests.forEach((d, i) =>
    assert.equal(d, createHash('sha256').update(streams[i]!).digest('hex')),
  );
});

test('stream hash - small streams, an empty one, and a dropped one', async () => {
  const small = randomBytes(1000);
  const inPlace = streamHash('sha256', small.length);
  feed(inPlace, small, [7, 300]);
  assert.equal(await inPlace.digest(), createHash('sha256').update(small).digest('hex'));
  assert.equal(
    await streamHash('sha256', THREAD_MIN_BYTES).digest(), // announced large, nothing came
    createHash('sha256').digest('hex'),
  );
  const dropped = streamHash('sha256', THREAD_MIN_BYTES);
  dropped.update(randomBytes(2 * MIB));
  dropped.close(); // a download that failed: nothing waits for it
  assert.equal(dropped.behind, false);
});

test('stream hash - MD5 and sha256 streams at once on the thread, and in place', async () => {
  const bytes = randomBytes(THREAD_MIN_BYTES + 123_457);
  const md5 = streamHash('md5', bytes.length);
  const sha256 = streamHash('sha256', bytes.length);
  const smallMd5 = streamHash('md5', 1000);
  for (let at = 0; at < bytes.length; at += 65_536) {
    md5.update(bytes.subarray(at, at + 65_536));
    sha256.update(bytes.subarray(at, at + 65_536));
  }
  smallMd5.update(bytes.subarray(0, 1000));
  assert.equal(await md5.digest(), createHash('md5').update(bytes).digest('hex'));
  assert.equal(await sha256.digest(), createHash('sha256').update(bytes).digest('hex'));
  assert.equal(
    await smallMd5.digest(),
    createHash('md5').update(bytes.subarray(0, 1000)).digest('hex'),
  );
});
