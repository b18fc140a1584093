import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFile,
  cp,
  mkdtemp,
  readdir,
  readFile,
  rm,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '../shared/logger.ts';
import { Journal, JOURNAL_DIR_NAME, segmentFile } from './journal.ts';
import { LocalCatalog } from './local-catalog.ts';

async function tempFolder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-journal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

async function createSmall(catalog: LocalCatalog, name: string, content: string) {
  const u = await catalog.directory.beginUpload();
  await u.write(Buffer.from(content));
  return await catalog.create(name, u, { size: content.length, sha256: sha(content) });
}

test('journal - entries appended at once share flushes and all come back in order', async (t) => {
  const dir = await tempFolder(t);
  let { journal, replay } = await Journal.open(dir, 1);
  assert.deepEqual(replay.entries, []);
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      journal.append({ json: { i }, bytes: i % 2 ? Buffer.from(`bytes ${i}`) : undefined }),
    ),
  );
  await journal.close();
  ({ journal, replay } = await Journal.open(dir, 1));
  await journal.close();
  assert.equal(replay.entries.length, 50);
  assert.deepEqual(
    replay.entries.map((e) => (e.json as { i: number }).i),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.equal(replay.entries[3]!.bytes!.toString(), 'bytes 3');
  assert.equal(replay.entries[4]!.bytes, undefined);
});

test('journal - a torn or damaged tail is cut off and later appends stay readable', async (t) => {
  const dir = await tempFolder(t);
  let { journal } = await Journal.open(dir, 1);
  await journal.append({ json: { n: 1 } });
  await journal.append({ json: { n: 2 }, bytes: Buffer.alloc(1000, 7) });
  await journal.close();
  const path = join(dir, JOURNAL_DIR_NAME, segmentFile(1));
  const whole = (await readFile(path)).length;
  await truncate(path, whole - 10); // the second entry cut short, as by a crash mid-write
  let replay;
  ({ journal, replay } = await Journal.open(dir, 1));
  assert.deepEqual(
    replay.entries.map((e) => e.json),
    [{ n: 1 }],
  );
  assert.ok(replay.tornBytes > 0);
  await journal.append({ json: { n: 3 } });
  await journal.close();
  await appendFile(path, Buffer.from('garbage that is not an entry'));
  ({ journal, replay } = await Journal.open(dir, 1));
  await journal.close();
  assert.deepEqual(
    replay.entries.map((e) => e.json),
    [{ n: 1 }, { n: 3 }],
  );
});

test('journal - rotation starts a new segment; dropped segments are not replayed', async (t) => {
  const dir = await tempFolder(t);
  const { journal } = await Journal.open(dir, 1);
  await journal.append({ json: { n: 1 } });
  const old = await journal.rotate();
  assert.equal(old, 1);
  await journal.append({ json: { n: 2 } });
  await journal.dropBefore(2);
  await journal.close();
  assert.deepEqual(await readdir(join(dir, JOURNAL_DIR_NAME)), [segmentFile(2)]);
  const reopened = await Journal.open(dir, 2);
  await reopened.journal.close();
  assert.deepEqual(
    reopened.replay.entries.map((e) => e.json),
    [{ n: 2 }],
  );
});

test('catalog - a crash before the checkpoint: the journal brings back lost small-file bytes and deletes', async (t) => {
  const root = await tempFolder(t);
  const crashed = await tempFolder(t);
  const { catalog } = await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() });
  const put = (name: string, content: string) => createSmall(catalog, name, content);
  await put('kept.txt', 'kept bytes');
  await put('dir/edited.txt', 'first');
  const u = await catalog.directory.beginUpload();
  await u.write(Buffer.from('second version'));
  await catalog.edit('dir/edited.txt', 1, u, { size: 14, sha256: sha('second version') });
  await put('gone.txt', 'to be deleted');
  await catalog.delete('gone.txt');
  // A power cut now: what was never flushed may be lost. Copy the folder as it is
  // (no checkpoint ran), then lose the unflushed bytes and the unflushed unlink.
  await cp(root, crashed, { recursive: true });
  await catalog.close();
  await truncate(join(crashed, 'kept.txt'), 0);
  await rm(join(crashed, 'dir', 'edited.txt'));
  await appendFile(join(crashed, 'gone.txt'), 'to be deleted');

  const reopened = await LocalCatalog.open({ root: crashed, logger: silentLogger() });
  t.after(() => reopened.catalog.close());
  const c = reopened.catalog;
  assert.deepEqual(
    c
      .list()
      .map((r) => [r.name, r.version])
      .sort(),
    [
      ['dir/edited.txt', 2],
      ['kept.txt', 1],
    ],
  );
  assert.equal(await readFile(join(crashed, 'kept.txt'), 'utf8'), 'kept bytes');
  assert.equal(await readFile(join(crashed, 'dir', 'edited.txt'), 'utf8'), 'second version');
  assert.deepEqual(
    c.tombstones().map((x) => x.name),
    ['gone.txt'],
  );
  assert.equal(reopened.scan.hashed, 0, 'replayed bytes are known, not re-hashed');
  assert.equal(
    (await readdir(crashed)).includes('gone.txt'),
    false,
    'a journaled delete is finished by the replay',
  );
});

test('journal - damage in a segment that is not the newest stops the start instead of dropping changes', async (t) => {
  const dir = await tempFolder(t);
  const { journal } = await Journal.open(dir, 1);
  for (let n = 1; n <= 3; n++) await journal.append({ json: { n } });
  await journal.rotate();
  await journal.append({ json: { n: 4 } });
  await journal.close();
  const first = join(dir, JOURNAL_DIR_NAME, segmentFile(1));
  const data = await readFile(first);
  const at = data.length - 5; // a bad byte in the last entry of the older segment
  data.writeUInt8(data.readUInt8(at) ^ 0xff, at);
  await writeFile(first, data);
  await assert.rejects(Journal.open(dir, 1), /is damaged/);
});

test('catalog - after a crash, a deleted name that has since become a folder does not stop the start', async (t) => {
  const root = await tempFolder(t);
  const crashed = await tempFolder(t);
  const { catalog } = await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() });
  const put = (name: string, content: string) => createSmall(catalog, name, content);
  await put('x', 'a file first');
  await catalog.delete('x');
  await put('x/y', 'then a folder');
  await cp(root, crashed, { recursive: true }); // the state before any checkpoint
  await catalog.close();
  const reopened = await LocalCatalog.open({ root: crashed, logger: silentLogger() });
  t.after(() => reopened.catalog.close());
  assert.deepEqual(
    reopened.catalog.list().map((r) => r.name),
    ['x/y'],
  );
  assert.equal(await readFile(join(crashed, 'x', 'y'), 'utf8'), 'then a folder');
});
