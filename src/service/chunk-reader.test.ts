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
  const reader = new ChunkReader(handle, 100, bytes.length - 7, CHUNK);
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
  const reader = new ChunkReader(handle, 0, bytes.length, CHUNK);
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
  const reader = new ChunkReader(handle, 0, bytes.length, CHUNK);
  const first = (await reader.next())!;
  const kept = Buffer.from(first.bytes);
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) chunk.written();
  assert.deepEqual(first.bytes, kept);
});

test('chunk reader - a file shorter than asked ends at its end; close waits for the read in flight', async (t) => {
  const bytes = randomBytes(CHUNK * 2 + 10);
  const handle = await open(await fileOf(t, bytes));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 0, bytes.length + 5 * CHUNK, CHUNK);
  let total = 0;
  for (let chunk = await reader.next(); chunk; chunk = await reader.next())
    total += chunk.bytes.length;
  assert.equal(total, bytes.length);

  const early = new ChunkReader(handle, 0, bytes.length, CHUNK);
  assert.ok(await early.next());
  await early.close(); // the second chunk's read was in flight
  assert.equal(await early.next(), undefined);
});
