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
