import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { LanfsError } from '../shared/errors.ts';
import { silentLogger } from '../shared/logger.ts';
import { LocalCatalog } from './local-catalog.ts';

async function dataDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-catalog-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(t: TestContext, root: string, serverId?: number) {
  const opened = await LocalCatalog.open({ root, serverId, logger: silentLogger() });
  t.after(() => opened.catalog.close());
  return opened;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function upload(catalog: LocalCatalog, content: string) {
  const u = await catalog.directory.beginUpload();
  await u.write(Buffer.from(content));
  return { u, check: { size: Buffer.byteLength(content), sha256: sha(content) } };
}

test('catalog - the start-up scan lists regular files only, skipping .lanfs, symlinks and bad names', async (t) => {
  const root = await dataDir(t);
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await writeFile(join(root, 'top.txt'), 'top');
  await writeFile(join(root, 'a', 'b', 'deep.txt'), 'deep');
  await mkdir(join(root, 'empty-folder'));
  await symlink('/etc/passwd', join(root, 'passwd-link'));
  await symlink(join(root, 'a'), join(root, 'folder-link'));
  await writeFile(join(root, 'back\\slash'), 'x');
  const { catalog, scan } = await open(t, root, 1);
  assert.deepEqual(
    catalog
      .list()
      .map((r) => r.name)
      .sort(),
    ['a/b/deep.txt', 'top.txt'],
  );
  assert.equal(scan.skipped, 3);
  const deep = catalog.get('a/b/deep.txt')!;
  assert.equal(deep.sha256, sha('deep'));
  assert.equal(deep.version, 1);
  assert.equal(deep.primary, 1);
});

test('catalog - a restart trusts stored hashes (nothing re-hashed) but sees out-of-band changes', async (t) => {
  const root = await dataDir(t);
  for (let i = 0; i < 300; i++) await writeFile(join(root, `f${i}.txt`), `content ${i}`);
  let opened = await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() });
  assert.equal(opened.scan.hashed, 300);
  await opened.catalog.close();

  opened = await LocalCatalog.open({ root, logger: silentLogger() });
  assert.equal(opened.scan.hashed, 0, 'a plain restart hashes nothing');
  assert.equal(opened.catalog.size, 300);
  await opened.catalog.close();

  await writeFile(join(root, 'f1.txt'), 'changed behind our back');
  await utimes(join(root, 'f1.txt'), new Date(), new Date(Date.now() + 5000));
  await rm(join(root, 'f2.txt'));
  const { catalog, scan } = await open(t, root);
  assert.equal(scan.hashed, 1);
  assert.equal(scan.changed, 1);
  assert.equal(scan.vanished, 1);
  assert.equal(catalog.get('f1.txt')!.version, 2);
  assert.equal(catalog.get('f1.txt')!.sha256, sha('changed behind our back'));
  assert.equal(catalog.get('f2.txt'), undefined);
});

test('catalog - the server id is required once, then remembered and checked', async (t) => {
  const root = await dataDir(t);
  await assert.rejects(LocalCatalog.open({ root, logger: silentLogger() }), /--id N/);
  await (await LocalCatalog.open({ root, serverId: 7, logger: silentLogger() })).catalog.close();
  await assert.rejects(
    LocalCatalog.open({ root, serverId: 8, logger: silentLogger() }),
    /belongs to server 7/,
  );
  const { catalog } = await open(t, root);
  assert.equal(catalog.serverId, 7);
});

test('catalog - leftover temp uploads are removed at start', async (t) => {
  const root = await dataDir(t);
  await (await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() })).catalog.close();
  await writeFile(join(root, '.lanfs', 'tmp', 'upload-crashed'), 'half a file');
  const { catalog, scan } = await open(t, root);
  assert.equal(scan.removedTempFiles, 1);
  assert.deepEqual(await readdir(catalog.directory.tempDir), []);
  assert.equal(catalog.size, 0);
});

test('catalog - an unreadable state store stops the server instead of starting empty', async (t) => {
  const root = await dataDir(t);
  await writeFile(join(root, 'file.txt'), 'x');
  await (await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() })).catalog.close();
  await writeFile(join(root, '.lanfs', 'state.snapshot'), Buffer.alloc(8192, 0x41));
  await assert.rejects(
    LocalCatalog.open({ root, logger: silentLogger() }),
    (err: LanfsError) =>
      err.code === 'LANFS_ERR_STORAGE' && /Cannot read the server state/.test(err.message),
  );
});

test('catalog - create, edit with version check, delete; records survive a reopen', async (t) => {
  const root = await dataDir(t);
  let opened = await LocalCatalog.open({ root, serverId: 2, logger: silentLogger() });
  let catalog = opened.catalog;
  const release = catalog.reserve('x/y.txt');
  assert.throws(() => catalog.reserve('x/y.txt'), /already exists/);
  let { u, check } = await upload(catalog, 'one');
  const created = await catalog.create('x/y.txt', u, check);
  release();
  assert.equal(created.version, 1);
  ({ u, check } = await upload(catalog, 'two'));
  assert.equal((await catalog.edit('x/y.txt', 1, u, check)).version, 2);
  ({ u, check } = await upload(catalog, 'stale'));
  await assert.rejects(
    catalog.edit('x/y.txt', 1, u, check),
    (err: LanfsError) => err.code === 'LANFS_ERR_EDIT_CONFLICT',
  );
  ({ u } = await upload(catalog, 'bad'));
  await assert.rejects(
    catalog.create('z.txt', u, { size: 3, sha256: sha('other') }),
    (err: LanfsError) => err.code === 'LANFS_ERR_CHECKSUM_MISMATCH',
  );
  const temps = await readdir(catalog.directory.tempDir);
  const sizes = await Promise.all(
    temps.map(async (n) => (await stat(join(catalog.directory.tempDir, n))).size),
  );
  assert.deepEqual(
    sizes.filter((size) => size > 0),
    [],
    'refused uploads leave no bytes behind',
  );
  await catalog.close();

  opened = await open(t, root);
  catalog = opened.catalog;
  assert.equal(opened.scan.hashed, 0);
  assert.equal(catalog.get('x/y.txt')!.version, 2);
  assert.equal(catalog.get('x/y.txt')!.sha256, sha('two'));
  await catalog.delete('x/y.txt');
  assert.equal(catalog.get('x/y.txt'), undefined);
  assert.deepEqual((await readdir(root)).sort(), ['.lanfs']);
});

test('catalog - small files are read from memory, always the bytes of the current version', async (t) => {
  const root = await dataDir(t);
  const { catalog } = await open(t, root, 1);
  let { u, check } = await upload(catalog, 'first');
  await catalog.create('s.txt', u, check);
  const read = async (name: string) => {
    const opened = await catalog.openFile(name);
    opened.release();
    return opened;
  };
  assert.equal((await read('s.txt')).bytes?.toString(), 'first');
  ({ u, check } = await upload(catalog, 'second'));
  await catalog.edit('s.txt', 1, u, check);
  assert.equal((await read('s.txt')).bytes?.toString(), 'second');
  await catalog.delete('s.txt');
  ({ u, check } = await upload(catalog, 'third, a new file'));
  await catalog.create('s.txt', u, check);
  assert.equal((await read('s.txt')).bytes?.toString(), 'third, a new file');
  const big = 'x'.repeat(200_000);
  ({ u, check } = await upload(catalog, big));
  await catalog.create('big.txt', u, check);
  const large = await read('big.txt');
  assert.equal(large.bytes, undefined, 'a large file is streamed from its descriptor');
});

test('catalog - a new file of a name keeps the old one`s tombstone while a former holder has not let go', async (t) => {
  const { catalog } = await open(t, await dataDir(t), 1);
  let { u, check } = await upload(catalog, 'old');
  const old = await catalog.create('doc.txt', u, check);
  await catalog.delete('doc.txt', [2]); // server 2 held a copy and was down
  ({ u, check } = await upload(catalog, 'new'));
  await catalog.create('doc.txt', u, check);
  assert.deepEqual(
    catalog.tombstones().map((d) => [d.fileId, d.pending]),
    [[old.fileId, [2]]],
    'still waiting for server 2 to drop its copy',
  );
  await catalog.settleTombstone(catalog.tombstones()[0]!, [2]);
  assert.deepEqual(catalog.tombstones(), []);
  // With nobody waiting, a new file buries the tombstone as before.
  ({ u, check } = await upload(catalog, 'newer'));
  await catalog.delete('doc.txt');
  await catalog.create('doc.txt', u, check);
  assert.deepEqual(catalog.tombstones(), []);
});

test('catalog - a name deleted, made anew and deleted again keeps one tombstone per file, across a restart', async (t) => {
  const root = await dataDir(t);
  const first = await open(t, root, 1);
  let { u, check } = await upload(first.catalog, 'one');
  const one = await first.catalog.create('doc.txt', u, check);
  await first.catalog.delete('doc.txt', [2]); // server 2 held a copy and was down
  ({ u, check } = await upload(first.catalog, 'two'));
  const two = await first.catalog.create('doc.txt', u, check);
  await first.catalog.delete('doc.txt', [3]);
  const byFile = (c: LocalCatalog) =>
    c
      .tombstonesOf('doc.txt')
      .map((d) => [d.fileId, d.pending])
      .sort();
  const both = [
    [one.fileId, [2]],
    [two.fileId, [3]],
  ].sort();
  assert.deepEqual(
    byFile(first.catalog),
    both,
    'the second delete kept the first file`s tombstone',
  );
  await first.catalog.close();

  // The journal replayed, then a snapshot read: both still there.
  const again = await open(t, root);
  assert.deepEqual(byFile(again.catalog), both);
  await again.catalog.checkpoint();
  await again.catalog.close();
  const third = await open(t, root);
  assert.deepEqual(byFile(third.catalog), both);

  // Server 2 seen without the first file: only that one's tombstone goes.
  await third.catalog.settleTombstone({ name: 'doc.txt', fileId: one.fileId }, [2, 3]);
  assert.deepEqual(byFile(third.catalog), [[two.fileId, [3]]]);
});

test('catalog - servers added to a tombstone after the delete keep it through a new file of the name, across a restart', async (t) => {
  const root = await dataDir(t);
  const first = await open(t, root, 1);
  let { u, check } = await upload(first.catalog, 'old');
  const old = await first.catalog.create('doc.txt', u, check);
  // No record named a copy; server 2's copy got no answer to its END (it may hold one).
  const tombstone = await first.catalog.delete('doc.txt', []);
  assert.equal(await first.catalog.addPending(tombstone, [2]), true);
  ({ u, check } = await upload(first.catalog, 'new'));
  await first.catalog.create('doc.txt', u, check);
  const pending = (c: LocalCatalog) => c.tombstonesOf('doc.txt').map((d) => [d.fileId, d.pending]);
  assert.deepEqual(pending(first.catalog), [[old.fileId, [2]]], 'the new file buried it');
  await first.catalog.close();
  const again = await open(t, root);
  assert.deepEqual(pending(again.catalog), [[old.fileId, [2]]]);
  await again.catalog.settleTombstone(tombstone, [2]);
  assert.deepEqual(again.catalog.tombstones(), []);
  // A tombstone already buried is not made again.
  assert.equal(await again.catalog.addPending(tombstone, [3]), false);
  assert.deepEqual(again.catalog.tombstones(), []);
});

test('catalog - an edit by a server taking over as primary keeps the former primary among the copies', async (t) => {
  const { catalog } = await open(t, await dataDir(t), 2);
  // A copy from server 1, the primary, which died before its own record went out.
  let { u, check } = await upload(catalog, 'one');
  const copy = await catalog.storeCopy(
    {
      name: 'doc.txt',
      fileId: 'f1',
      size: 3,
      sha256: sha('one'),
      version: 1,
      primary: 1,
      replicas: [2],
      modifiedAt: Date.now(),
    },
    u,
    check,
  );
  assert.equal(copy.primary, 1);
  ({ u, check } = await upload(catalog, 'two'));
  const edited = await catalog.edit('doc.txt', 1, u, check);
  assert.equal(edited.primary, 2);
  assert.deepEqual(edited.replicas, [1, 2], 'server 1 holds version 1: a delete must wait for it');
  ({ u, check } = await upload(catalog, 'three'));
  assert.deepEqual((await catalog.edit('doc.txt', 2, u, check)).replicas, [1, 2]);
});
