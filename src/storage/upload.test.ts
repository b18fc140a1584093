import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DataDirectory } from './data-directory.ts';

const MIB = 1024 * 1024;

/** The FileHandle class's datasync, replaced for one test by a counting (or failing) one. */
async function spyDatasync(t: TestContext, fail = false): Promise<{ calls: number }> {
  const probe = await open('/dev/null');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const real = proto.datasync;
  const seen = { calls: 0 };
  proto.datasync = function (this: unknown) {
    seen.calls++;
    if (fail) return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    return real.call(this);
  };
  t.after(() => {
    proto.datasync = real;
  });
  return seen;
}

async function directory(t: TestContext, directIo = true): Promise<DataDirectory> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-upload-'));
  const dir = new DataDirectory(root, { directIo });
  await dir.init();
  t.after(async () => {
    await dir.close();
    await rm(root, { recursive: true, force: true });
  });
  return dir;
}

test('upload - a large upload through the page cache is flushed while it arrives, not all at the end', async (t) => {
  const dir = await directory(t, false);
  const seen = await spyDatasync(t);
  const upload = await dir.beginUpload();
  const chunk = Buffer.alloc(MIB, 7);
  const hash = createHash('sha256');
  for (let i = 0; i < 80; i++) {
    await upload.write(chunk);
    hash.update(chunk);
  }
  // Bounded: the early flushes run on the thread pool while the bytes arrive.
  for (let i = 0; i < 200 && seen.calls < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(seen.calls >= 2, `80 MiB written, ${seen.calls} early flushes (one each 32 MiB)`);
  const received = await upload.finish();
  assert.equal(received.size, 80 * MIB);
  assert.equal(received.sha256, hash.digest('hex'));
  await upload.abort();
});

test('upload - an early flush that fails fails the upload with a storage error', async (t) => {
  const dir = await directory(t, false);
  await spyDatasync(t, true);
  const upload = await dir.beginUpload();
  const chunk = Buffer.alloc(MIB, 1);
  let failed: unknown;
  try {
    for (let i = 0; i < 64; i++) await upload.write(chunk);
    await upload.finish();
  } catch (err) {
    failed = err;
  }
  assert.ok(failed instanceof Error, 'the upload went on as if its bytes were safe');
  assert.match(failed.message, /saving the upload/);
  await upload.abort();
});

/** 5 MiB of varied bytes in 64 KiB + 3 pieces (so the last is ragged), and their sha256. */
function pieces(): { chunks: Buffer[]; sha256: string; size: number } {
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let size = 0;
  for (let i = 0; size < 5 * MIB; i++) {
    const chunk = Buffer.alloc(64 * 1024 + 3, i % 251);
    chunks.push(chunk);
    hash.update(chunk);
    size += chunk.length;
  }
  return { chunks, sha256: hash.digest('hex'), size };
}

for (const directIo of [true, false]) {
  const how = directIo ? 'past the page cache' : 'through the page cache';
  test(`upload - hash left to the copies, none vouches: the file is hashed read back (${how})`, async (t) => {
    const dir = await directory(t, directIo);
    const { chunks, sha256, size } = pieces();
    const upload = await dir.beginUpload();
    upload.leaveHashToCopies();
    for (const chunk of chunks) await upload.write(chunk);
    assert.equal(upload.unhashed, true);
    assert.deepEqual(upload.sumSoFar(), { size, sha256: null });
    const received = await upload.finish();
    assert.deepEqual({ size: received.size, sha256: received.sha256 }, { size, sha256 });
    await upload.abort();
  });
}

test('upload - hash left to the copies and vouched for: finish() gives the vouched sha256 without reading back', async (t) => {
  const dir = await directory(t);
  const { chunks, size } = pieces();
  const upload = await dir.beginUpload();
  upload.leaveHashToCopies();
  for (const chunk of chunks) await upload.write(chunk);
  // Not the bytes' real sha256: shows that finish() takes the vouch as it is (the
  // file service vouches only with a copy's sha256 equal to the writer's).
  upload.vouch('ab'.repeat(32));
  const received = await upload.finish();
  assert.deepEqual(
    { size: received.size, sha256: received.sha256 },
    { size, sha256: 'ab'.repeat(32) },
  );
  await upload.abort();
});

test('upload - a small upload whose hash was left to the copies is still hashed (its bytes go into the journal)', async (t) => {
  const dir = await directory(t);
  const upload = await dir.beginUpload();
  upload.leaveHashToCopies();
  const bytes = Buffer.from('small enough to stay in memory');
  await upload.write(bytes);
  assert.equal(upload.unhashed, false);
  const received = await upload.finish();
  assert.equal(received.sha256, createHash('sha256').update(bytes).digest('hex'));
});

test('upload - a copy sums what it received so far, and goes on hashing after', async (t) => {
  const dir = await directory(t);
  const { chunks, sha256, size } = pieces();
  const upload = await dir.beginUpload();
  const half = createHash('sha256');
  let halfSize = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (i === 40) {
      assert.deepEqual(upload.sumSoFar(), { size: halfSize, sha256: half.digest('hex') });
    }
    await upload.write(chunk);
    if (i < 40) {
      half.update(chunk);
      halfSize += chunk.length;
    }
  }
  assert.deepEqual(upload.sumSoFar(), { size, sha256 });
  assert.equal((await upload.finish()).sha256, sha256);
  await upload.abort();
});

/** Counts FileHandle reads (the read-back's) for one test. */
async function spyReads(t: TestContext): Promise<{ calls: number }> {
  const probe = await open('/dev/null');
  const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const real = proto.read;
  const seen = { calls: 0 };
  proto.read = function (this: unknown, ...args: unknown[]) {
    seen.calls++;
    return real.apply(this, args);
  };
  t.after(() => {
    proto.read = real;
  });
  return seen;
}

for (const directIo of [true, false]) {
  const how = directIo ? 'past the page cache' : 'through the page cache';
  test(`upload - once no copy is left, the file is read back while it is written, not at the end (${how})`, async (t) => {
    const dir = await directory(t, directIo);
    const reads = await spyReads(t);
    const { chunks, sha256, size } = pieces();
    const upload = await dir.beginUpload();
    upload.leaveHashToCopies();
    for (const [i, chunk] of chunks.entries()) {
      if (i === 20) upload.hashFromDisk(); // the last copy failed here
      await upload.write(chunk);
    }
    // Bounded: the bytes written so far are read back without waiting for finish().
    for (let i = 0; i < 200 && reads.calls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(reads.calls > 0, 'nothing was read back before finish()');
    const received = await upload.finish();
    assert.deepEqual({ size: received.size, sha256: received.sha256 }, { size, sha256 });
    await upload.abort();
  });
}

test('upload - an upload thrown away while it is read back stops the reading', async (t) => {
  const dir = await directory(t);
  const { chunks } = pieces();
  const upload = await dir.beginUpload();
  upload.leaveHashToCopies();
  for (const chunk of chunks.slice(0, 30)) await upload.write(chunk);
  upload.hashFromDisk();
  await upload.abort(); // returns: the reader, waiting for more bytes, gave up
  assert.equal(upload.unhashed, true);
});
