import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MultipartStore, serverOfUpload } from './multipart-store.ts';

async function store(t: { after: (fn: () => Promise<void>) => void }): Promise<{
  root: string;
  store: MultipartStore;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-multipart-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'multipart');
  return { root, store: new MultipartStore({ root, serverId: 7 }) };
}

async function bytesOf(s: MultipartStore, uploadId: string, partNumber: number): Promise<Buffer> {
  const part = (await s.parts(uploadId))!.find((p) => p.partNumber === partNumber)!;
  const chunks: Buffer[] = [];
  for await (const chunk of s.readPart(uploadId, part)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

test('multipart store - an upload keeps its parts, by number, with size and MD5; a part sent again replaces the old one', async (t) => {
  const { root, store: s } = await store(t);
  const info = await s.create({
    name: 'bk/file.bin',
    contentType: 'text/plain',
    metadata: { a: '1' },
  });
  assert.match(info.uploadId, /^7-[0-9a-f]{32}$/);
  assert.equal(serverOfUpload(info.uploadId), 7);
  assert.deepEqual(await s.get(info.uploadId), info);

  for (const [n, text] of [
    [2, 'second'],
    [1, 'first'],
    [2, 'second, again'],
  ] as const) {
    const writer = (await s.beginPart(info.uploadId, n))!;
    await writer.write(Buffer.from(text.slice(0, 3)));
    await writer.write(Buffer.from(text.slice(3)));
    const part = await writer.commit(md5(Buffer.from(text)));
    assert.equal(part.md5, md5(Buffer.from(text)));
  }
  const parts = (await s.parts(info.uploadId))!;
  assert.deepEqual(
    parts.map((p) => [p.partNumber, p.size, p.md5]),
    [
      [1, 5, md5(Buffer.from('first'))],
      [2, 13, md5(Buffer.from('second, again'))],
    ],
  );
  assert.equal((await bytesOf(s, info.uploadId, 2)).toString(), 'second, again');
  // The replaced part's bytes and every temp file are gone.
  const files = await readdir(join(root, info.uploadId));
  assert.equal(files.filter((f) => f.endsWith('.bin')).length, 2);
  assert.ok(!files.some((f) => f.endsWith('.tmp')));

  // An aborted part leaves nothing behind and does not replace the stored one.
  const aborted = (await s.beginPart(info.uploadId, 1))!;
  await aborted.write(Buffer.from('never'));
  await aborted.abort();
  assert.equal((await bytesOf(s, info.uploadId, 1)).toString(), 'first');
  assert.ok(!(await readdir(join(root, info.uploadId))).some((f) => f.endsWith('.tmp')));

  assert.deepEqual(
    (await s.list()).map((u) => u.uploadId),
    [info.uploadId],
  );
  assert.equal(await s.remove(info.uploadId), true);
  assert.equal(await s.get(info.uploadId), undefined);
  assert.equal(await s.remove(info.uploadId), false);
  assert.deepEqual(await readdir(root), []);
});

test('multipart store - ids lanfs does not make name nothing (no path tricks); part numbers are bounded', async (t) => {
  const { store: s } = await store(t);
  for (const id of ['../../etc', '7-../x', '7-ABC', '0-' + 'a'.repeat(32), '']) {
    assert.equal(await s.get(id), undefined, id);
    assert.equal(await s.beginPart(id, 1), undefined, id);
    assert.equal(await s.parts(id), undefined, id);
    assert.equal(await s.remove(id), false, id);
    assert.equal(serverOfUpload(id), undefined, id);
  }
  const info = await s.create({ name: 'bk/k' });
  await assert.rejects(s.beginPart(info.uploadId, 0), RangeError);
  await assert.rejects(s.beginPart(info.uploadId, 10_001), RangeError);
});

test('multipart store - removeExpired removes the uploads left alone longer than the expiry, and only those', async (t) => {
  const { store: s } = await store(t);
  const old = await s.create({ name: 'bk/old' });
  const writer = (await s.beginPart(old.uploadId, 1))!;
  await writer.write(Buffer.from('x'));
  await writer.commit(md5(Buffer.from('x')));
  assert.deepEqual(await s.removeExpired(60_000), [], 'nothing is a minute old yet');
  const fresh = await s.create({ name: 'bk/fresh' });
  // Seen from an hour later, both are stale; with a two-hour expiry neither is.
  assert.deepEqual(await s.removeExpired(2 * 3600_000, Date.now() + 3600_000), []);
  const removed = await s.removeExpired(1000, Date.now() + 3600_000);
  assert.deepEqual(removed.sort(), [old.uploadId, fresh.uploadId].sort());
  assert.deepEqual(await s.list(), []);
});
