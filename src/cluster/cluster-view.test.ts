import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FileRecord } from '../protocol/messages.ts';
import { silentLogger } from '../shared/logger.ts';
import { LocalCatalog } from '../storage/local-catalog.ts';
import { ClusterView } from './cluster-view.ts';

async function view(t: TestContext): Promise<ClusterView> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-view-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'mine.txt'), 'mine');
  const { catalog } = await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() });
  t.after(() => catalog.close());
  return new ClusterView(catalog, () => '127.0.0.1:7070');
}

const record = (name: string, primary: number, version = 1): FileRecord => ({
  name,
  fileId: 'f00df00df00df00d',
  size: 1,
  sha256: 'a'.repeat(64),
  version,
  primary,
  replicas: [],
  modifiedAt: 0,
});

const page = (
  records: FileRecord[],
  extra: Partial<{
    version: number;
    baseVersion: number;
    full: boolean;
    reset: boolean;
    removed: string[];
  }>,
) => ({
  instance: 'feedfeedfeedfeed',
  version: 0,
  baseVersion: 0,
  full: true,
  reset: true,
  records,
  removed: [],
  tombstones: [],
  ...extra,
});

test('cluster view - full copies and deltas build the single system image; a gap asks for a full copy', async (t) => {
  const v = await view(t);
  v.upsertMember(2, '127.0.0.1:7071');
  v.setUp(2, true);
  assert.equal(v.applyRecords(2, page([record('a.txt', 2), record('b.txt', 2)], {})), true);
  assert.deepEqual(
    v
      .list()
      .map((r) => r.name)
      .sort(),
    ['a.txt', 'b.txt', 'mine.txt'],
  );
  assert.equal(
    v.applyRecords(
      2,
      page([record('c.txt', 2)], {
        full: false,
        reset: false,
        baseVersion: 0,
        version: 1,
        removed: ['a.txt'],
      }),
    ),
    true,
  );
  assert.deepEqual(
    v
      .list()
      .map((r) => r.name)
      .sort(),
    ['b.txt', 'c.txt', 'mine.txt'],
  );
  assert.equal(v.isCurrent(2, 'feedfeedfeedfeed', 1), true);
  // A delta from version 5 when we hold version 1: refused, the caller asks for everything.
  assert.equal(
    v.applyRecords(
      2,
      page([record('d.txt', 2)], { full: false, reset: false, baseVersion: 5, version: 6 }),
    ),
    false,
  );
  assert.equal(v.has('d.txt'), false);
});

test('cluster view - where a file is: here, on a live server, only on servers that are down, nowhere', async (t) => {
  const v = await view(t);
  v.upsertMember(2, '127.0.0.1:7071');
  v.upsertMember(3, '127.0.0.1:7072');
  v.applyRecords(2, page([record('two.txt', 2)], {}));
  v.applyRecords(3, page([record('three.txt', 3)], {}));
  v.setUp(2, true);
  assert.deepEqual(v.locateForRead('mine.txt'), { kind: 'local' });
  assert.deepEqual(v.locateForRead('two.txt'), {
    kind: 'remote',
    serverId: 2,
    address: '127.0.0.1:7071',
  });
  assert.deepEqual(v.locateForRead('three.txt'), { kind: 'down', holders: [3] });
  assert.deepEqual(v.locateForRead('nowhere.txt'), { kind: 'none' });
  assert.equal(v.list().find((r) => r.name === 'three.txt')?.available, false);
  assert.deepEqual(
    v.servers().map((s) => [s.id, s.up, s.files]),
    [
      [1, true, 1],
      [2, true, 1],
      [3, false, 1],
    ],
  );
});

test('cluster view - a stray copy of a deleted file stays hidden when another server deletes a later file of that name', async (t) => {
  const v = await view(t);
  for (const id of [2, 3]) {
    v.upsertMember(id, `127.0.0.1:707${id}`);
    v.setUp(id, true);
  }
  const first = { ...record('doc.txt', 2), fileId: 'aaaaaaaaaaaaaaaa' };
  // Server 2 still holds a copy of the first file; server 3 deleted it (its tombstone)...
  v.applyRecords(2, page([first], {}));
  const deletedFirst = { name: 'doc.txt', fileId: first.fileId, version: 1 };
  v.applyRecords(3, { ...page([], {}), tombstones: [deletedFirst] });
  assert.deepEqual(v.holders('doc.txt'), []);
  // ...and server 2 itself deleted a later file of the name, at a higher version.
  const deletedLater = { name: 'doc.txt', fileId: 'bbbbbbbbbbbbbbbb', version: 3 };
  v.applyRecords(2, { ...page([first], {}), tombstones: [deletedLater] });
  assert.deepEqual(v.holders('doc.txt'), [], 'the first file is still deleted');
  assert.equal(v.has('doc.txt'), false);
});
