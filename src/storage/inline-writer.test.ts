import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { InlineWriter } from './inline-writer.ts';

async function folder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-inline-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function writer(t: TestContext): InlineWriter {
  const w = new InlineWriter();
  t.after(() => w.close());
  return w;
}

test('inline writer - files asked for at once are all written, each with its own identity', async (t) => {
  const dir = await folder(t);
  const w = writer(t);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      w.write({ path: join(dir, `f${i}`), bytes: Buffer.from(`bytes of ${i}`), durable: i === 0 }),
    ),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(await readFile(join(dir, `f${i}`), 'utf8'), `bytes of ${i}`);
    const st = await stat(join(dir, `f${i}`));
    assert.deepEqual(r, { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs });
  }
  assert.equal(new Set(results.map((r) => r.ino)).size, 50);
});

test('inline writer - an existing name is refused with EEXIST and kept; a missing folder is ENOENT', async (t) => {
  const dir = await folder(t);
  const w = writer(t);
  await writeFile(join(dir, 'taken'), 'old');
  await assert.rejects(
    w.write({ path: join(dir, 'taken'), bytes: Buffer.from('new'), durable: false }),
    {
      code: 'EEXIST',
    },
  );
  assert.equal(await readFile(join(dir, 'taken'), 'utf8'), 'old');
  await assert.rejects(
    w.write({ path: join(dir, 'no', 'such'), bytes: Buffer.from('x'), durable: false }),
    { code: 'ENOENT' },
  );
  // One failure does not spoil the others of its batch.
  const [bad, good] = await Promise.allSettled([
    w.write({ path: join(dir, 'taken'), bytes: Buffer.from('x'), durable: false }),
    w.write({ path: join(dir, 'fresh'), bytes: Buffer.from('y'), durable: false }),
  ]);
  assert.equal(bad.status, 'rejected');
  assert.equal(good.status, 'fulfilled');
  assert.equal(await readFile(join(dir, 'fresh'), 'utf8'), 'y');
});

test('inline writer - a replace goes through its temp file, which is gone after, also when the rename fails', async (t) => {
  const dir = await folder(t);
  await mkdir(join(dir, 'tmp'));
  const w = writer(t);
  await writeFile(join(dir, 'doc'), 'version 1');
  await w.write({
    path: join(dir, 'doc'),
    tempPath: join(dir, 'tmp', 't1'),
    bytes: Buffer.from('version 2'),
    durable: true,
  });
  assert.equal(await readFile(join(dir, 'doc'), 'utf8'), 'version 2');
  // A folder where the file should go: the rename fails, the temp file is removed.
  await mkdir(join(dir, 'folder', 'inside'), { recursive: true });
  await assert.rejects(
    w.write({
      path: join(dir, 'folder'),
      tempPath: join(dir, 'tmp', 't2'),
      bytes: Buffer.from('x'),
      durable: false,
    }),
    (err: NodeJS.ErrnoException) => typeof err.code === 'string',
  );
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
});

test('inline writer - once closed it refuses more, in one sentence', async (t) => {
  const dir = await folder(t);
  const w = new InlineWriter();
  await w.write({ path: join(dir, 'a'), bytes: Buffer.from('a'), durable: false });
  await w.close();
  await assert.rejects(
    w.write({ path: join(dir, 'b'), bytes: Buffer.from('b'), durable: false }),
    /stopping/,
  );
});
