import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DataDirectory } from './data-directory.ts';

const MIB = 1024 * 1024;

async function directory(t: TestContext): Promise<DataDirectory> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-direct-'));
  const dir = new DataDirectory(root);
  await dir.init();
  t.after(async () => {
    await dir.close();
    await rm(root, { recursive: true, force: true });
  });
  return dir;
}

/** Every FileHandle write (the direct path's; the page-cache path uses writev), for one test. */
async function spyWrites(
  t: TestContext,
  fail?: (length: number, call: number) => NodeJS.ErrnoException | undefined,
): Promise<number[]> {
  const probe = await open('/dev/null');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const real = proto.write;
  const lengths: number[] = [];
  proto.write = function (this: unknown, ...args: unknown[]) {
    const length = args[2] as number;
    lengths.push(length);
    const err = fail?.(length, lengths.length);
    if (err) return Promise.reject(err);
    return real.apply(this, args);
  };
  t.after(() => {
    proto.write = real;
  });
  return lengths;
}

/** Bytes no chunk size lines up with: each byte says where it is. */
function pattern(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
  return bytes;
}

test('direct writes - odd sizes in odd chunks land whole, cut to their size, in whole-block writes', async (t) => {
  const dir = await directory(t);
  const writes = await spyWrites(t);
  for (const size of [3 * MIB + 12_345, 2 * MIB, 64 * 1024 + 1]) {
    const bytes = pattern(size);
    const upload = await dir.beginUpload();
    for (let offset = 0; offset < size; offset += 65_537)
      await upload.write(bytes.subarray(offset, offset + 65_537));
    const received = await upload.finish();
    assert.equal(received.size, size);
    assert.equal(received.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal((await stat(upload.tempPath)).size, size, 'the padding of the last block was cut');
    assert.ok((await readFile(upload.tempPath)).equals(bytes), `${size} bytes came back changed`);
    await upload.abort();
  }
  assert.ok(writes.length > 0, 'no direct write was made (page cache used instead)');
  for (const length of writes) assert.equal(length % 4096, 0, `a write of ${length} bytes`);
});

test('direct writes - a full disk fails the upload with the disk-full sentence', async (t) => {
  const dir = await directory(t);
  await spyWrites(t, (_length, call) =>
    call === 2 ? Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' }) : undefined,
  );
  const upload = await dir.beginUpload();
  let failed: unknown;
  try {
    for (let i = 0; i < 8; i++) await upload.write(pattern(MIB));
    await upload.finish();
  } catch (err) {
    failed = err;
  }
  assert.ok(failed instanceof Error, 'the upload went on as if its bytes were safe');
  assert.equal((failed as { code?: string }).code, 'LANFS_ERR_DISK_FULL');
  await upload.abort();
});

// Last in this file: a refusal turns direct writes off for the rest of the process.
test('direct writes - a file system that refuses them midway gets the bytes through the page cache', async (t) => {
  const dir = await directory(t);
  let refused = 0;
  await spyWrites(t, (_length, call) => {
    if (call !== 1) return undefined;
    refused++;
    return Object.assign(new Error('EINVAL: invalid argument'), { code: 'EINVAL' });
  });
  const size = 5 * MIB + 999;
  const bytes = pattern(size);
  const upload = await dir.beginUpload();
  for (let offset = 0; offset < size; offset += 100_000)
    await upload.write(bytes.subarray(offset, offset + 100_000));
  const received = await upload.finish();
  assert.equal(refused, 1);
  assert.equal(received.size, size);
  assert.ok((await readFile(upload.tempPath)).equals(bytes), 'bytes were lost in the change');
  await upload.abort();
});
