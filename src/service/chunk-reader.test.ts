import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ChunkReader } from './chunk-reader.ts';

const CHUNK = 4096;

async function fileOf(t: TestContext, bytes: Buffer): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-chunks-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const path = join(root, 'file');
  await writeFile(path, bytes);
  return path;
}

test('chunk reader - the stretch asked for, in order, across chunk boundaries', async (t) => {
  const bytes = randomBytes(CHUNK * 5 + 123);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 100, bytes.length - 7, { chunkBytes: CHUNK });
  const got: Buffer[] = [];
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
    got.push(Buffer.from(chunk.bytes)); // copied: the buffer comes back to the reader
    chunk.written();
  }
  assert.ok(reader.done);
  assert.deepEqual(Buffer.concat(got), bytes.subarray(100, bytes.length - 7));
});

test('chunk reader - a few buffers serve a long file when each chunk is given back', async (t) => {
  const bytes = randomBytes(CHUNK * 64);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 0, bytes.length, { chunkBytes: CHUNK });
  const buffers = new Set<ArrayBufferLike>();
  let chunks = 0;
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
    buffers.add(chunk.bytes.buffer);
    chunks++;
    chunk.written();
  }
  assert.equal(chunks, 64);
  // One being read ahead while one is sent: two, where a new buffer per chunk made 64.
  assert.ok(buffers.size <= 2, `${buffers.size} buffers for 64 chunks`);
});

test('chunk reader - a chunk not given back is never read into again', async (t) => {
  const bytes = randomBytes(CHUNK * 8);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 0, bytes.length, { chunkBytes: CHUNK });
  const first = (await reader.next())!;
  const kept = Buffer.from(first.bytes);
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) chunk.written();
  assert.deepEqual(first.bytes, kept);
});

test('chunk reader - a file shorter than asked ends at its end; close waits for the read in flight', async (t) => {
  const bytes = randomBytes(CHUNK * 2 + 10);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 0, bytes.length + 5 * CHUNK, { chunkBytes: CHUNK });
  let total = 0;
  for (let chunk = await reader.next(); chunk; chunk = await reader.next())
    total += chunk.bytes.length;
  assert.equal(total, bytes.length);

  const early = new ChunkReader(handle, 0, bytes.length, { chunkBytes: CHUNK });
  assert.ok(await early.next());
  await early.close(); // the second chunk's read was in flight
  assert.equal(await early.next(), undefined);
});

/** Whether a chunk came from the aligned memory shared by direct reads (not a reader's own buffer). */
const fromDirectMemory = (bytes: Buffer): boolean => bytes.buffer.byteLength > 16 * 1024 * 1024;

test('chunk reader - a large stretch is read past the page cache, from an unaligned start, exactly', async (t) => {
  const bytes = randomBytes(5 * 1024 * 1024 + 4321);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 1001, bytes.length - 3, { givesBack: true });
  const got: Buffer[] = [];
  let direct = 0;
  for await (const chunk of reader) {
    if (fromDirectMemory(chunk.bytes)) direct++;
    got.push(Buffer.from(chunk.bytes));
    chunk.written();
  }
  assert.deepEqual(Buffer.concat(got), bytes.subarray(1001, bytes.length - 3));
  assert.equal(
    direct,
    got.length,
    `${got.length - direct} of ${got.length} chunks read the ordinary way`,
  );
});

test('chunk reader - readers that leave early give their direct buffers back', async (t) => {
  const bytes = randomBytes(5 * 1024 * 1024);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  // More readers than the shared buffers: each keeps one chunk read ahead when it leaves.
  for (let i = 0; i < 100; i++) {
    const reader = new ChunkReader(handle, 0, bytes.length, { givesBack: true });
    for await (const chunk of reader) {
      chunk.written();
      break;
    }
  }
  // Two chunks held at once (and a third read ahead): with the shared buffers leaked, at most
  // the one the last reader gave back would be free.
  const last = new ChunkReader(handle, 0, bytes.length, { givesBack: true });
  const held = [(await last.next())!, (await last.next())!];
  assert.ok(
    held.every((chunk) => fromDirectMemory(chunk.bytes)),
    'the shared buffers ran out: some were never given back',
  );
  for (const chunk of held) chunk.written();
  await last.close();
});
