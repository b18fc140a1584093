import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FileRecord } from '../protocol/messages.ts';
import { silentLogger } from '../shared/logger.ts';
import { LocalCatalog } from '../storage/local-catalog.ts';
import { ClusterView } from './cluster-view.ts';
import { SortedNames } from './sorted-names.ts';

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

test('cluster view - one server`s tombstones of two files of one name both hide stray copies', async (t) => {
  const v = await view(t);
  for (const id of [2, 3]) {
    v.upsertMember(id, `127.0.0.1:707${id}`);
    v.setUp(id, true);
  }
  const first = { ...record('doc.txt', 2), fileId: 'aaaaaaaaaaaaaaaa' };
  // Server 3 deleted the first file (server 2, down then, kept a copy), then a second one.
  const deletedFirst = { name: 'doc.txt', fileId: first.fileId, version: 1 };
  const deletedSecond = { name: 'doc.txt', fileId: 'bbbbbbbbbbbbbbbb', version: 2 };
  v.applyRecords(3, { ...page([], {}), tombstones: [deletedFirst, deletedSecond] });
  v.applyRecords(2, page([first], {}));
  assert.deepEqual(v.holders('doc.txt'), [], 'the stray copy of the first file stays hidden');
  assert.equal(v.coveringTombstone('doc.txt', first)?.fileId, first.fileId);
  // A delta naming doc.txt again replaces that name's tombstones with the ones it carries.
  v.applyRecords(3, {
    ...page([], { full: false, reset: false, version: 1, removed: ['doc.txt'] }),
    tombstones: [deletedSecond],
  });
  assert.equal(v.holders('doc.txt').length, 1, 'server 3 let go of the first file`s tombstone');
});

test('sorted names - a random run of adds and deletes keeps the order, and pages seek after a name and stop at the prefix', () => {
  // A seeded generator: the same run every time, and enough names to split and merge chunks.
  let seed = 16;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const index = new SortedNames();
  const model = new Set<string>();
  for (let step = 0; step < 20_000; step++) {
    const name = `${'abc'[random(3)]}/${random(3000).toString(36)}`;
    if (random(3) === 0) assert.equal(index.delete(name), model.delete(name), `delete ${name}`);
    else assert.equal(index.add(name), !model.has(name) && !!model.add(name), `add ${name}`);
  }
  const sorted = [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.equal(index.size, sorted.length);
  assert.deepEqual([...index], sorted);
  // Paging through by 97 after the last name seen gives every name once, in order.
  const seen: string[] = [];
  for (let after: string | undefined, i = 0; i < 1000; i++) {
    const page = index.page(97, after);
    seen.push(...page);
    if (page.length < 97) break;
    after = page[page.length - 1];
  }
  assert.deepEqual(seen, sorted);
  // A prefix: only its names, from the first; after a name not in the index: the next one.
  assert.deepEqual(
    index.page(1_000_000, undefined, 'b/'),
    sorted.filter((n) => n.startsWith('b/')),
  );
  assert.deepEqual(index.page(3, 'b/'), sorted.filter((n) => n > 'b/').slice(0, 3));
  assert.deepEqual(
    index.page(5, 'a/zzz', 'b/'),
    sorted.filter((n) => n.startsWith('b/')).slice(0, 5),
  );
  assert.deepEqual(index.page(5, 'c/zzzz', 'b/'), []);
  assert.equal(index.has(sorted[10]!), true);
  assert.equal(index.has('d/none'), false);
  assert.deepEqual([...SortedNames.from([...sorted].reverse())], sorted);
});

test('cluster view - listPage pages every file once in name order across members; health is kept as records and members change', async (t) => {
  const v = await view(t);
  v.upsertMember(2, '127.0.0.1:7071');
  v.upsertMember(3, '127.0.0.1:7072');
  v.setUp(2, true);
  v.setUp(3, true);
  const names = Array.from({ length: 3000 }, (_, i) => `d${i % 7}/f${i}`);
  // Server 2 holds the even ones, 3 the odd ones and every third name too (two copies).
  const two = names.filter((_, i) => i % 2 === 0).map((n) => record(n, 2));
  const three = names.filter((_, i) => i % 2 === 1 || i % 3 === 0).map((n) => record(n, 3));
  assert.equal(v.applyRecords(2, page(two, {})), true);
  assert.equal(v.applyRecords(3, page(three, { version: 1 })), true);
  const all = [...names, 'mine.txt'].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(
    v.list().map((r) => r.name),
    all,
  );
  const paged: string[] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i++) {
    const { records, more } = v.listPage(250, after);
    paged.push(...records.map((r) => r.name));
    if (!more) break;
    after = records[records.length - 1]!.name;
  }
  assert.deepEqual(paged, all);
  // Each entry as the holders make it (a one-holder file takes a shorter path).
  for (const r of v.list()) {
    const newest = v.newestHolders(r.name);
    const primary = v.actingPrimary(r.name) ?? newest[0]!.record.primary;
    assert.equal(r.primary, primary, r.name);
    assert.equal(
      r.available,
      newest.some((h) => h.up),
      r.name,
    );
    assert.deepEqual(
      r.replicas,
      newest
        .map((h) => h.id)
        .filter((id) => id !== primary)
        .sort((a, b) => a - b),
      r.name,
    );
  }
  const d3 = v.listPage(10_000, undefined, 'd3/');
  assert.deepEqual(
    d3.records.map((r) => r.name),
    all.filter((n) => n.startsWith('d3/')),
  );
  assert.equal(d3.more, false);

  // Health with 2 copies wanted: the names only one server holds.
  const single = (list: string[]): string[] => list.filter((n) => n !== 'mine.txt').sort();
  const held = new Map<string, number>();
  for (const r of [...two, ...three]) held.set(r.name, (held.get(r.name) ?? 0) + 1);
  const expected = [...names.filter((n) => held.get(n) === 1), 'mine.txt'].sort();
  assert.deepEqual(v.health(2).underReplicated.sort(), expected);
  // A delta removing names from 2 and a member going down are seen at the next call.
  assert.equal(
    v.applyRecords(2, page([], { full: false, version: 1, removed: [names[0]!] })),
    true,
  );
  assert.equal(v.health(2).underReplicated.includes(names[0]!), true, 'one copy left on 3');
  v.setUp(3, false);
  assert.deepEqual(single(v.health(2).underReplicated), single(v.list().map((r) => r.name)));
  v.setUp(3, true);
  assert.equal(
    v.applyRecords(3, page([], { full: false, baseVersion: 1, version: 2, removed: [names[0]!] })),
    true,
  );
  assert.equal(v.listPage(1).records[0]!.name, names.filter((n) => n !== names[0]).sort()[0]);
  assert.equal(v.health(2).underReplicated.includes(names[0]!), false, 'gone everywhere');
  assert.equal(v.nameCount, all.length - 1, 'the index forgets a name nobody holds');
});

test('cluster view - placement candidates: each live member with its files, the bytes of its records kept as pages apply, and its capacity', async (t) => {
  const v = await view(t);
  const sized = (name: string, size: number): FileRecord => ({ ...record(name, 2), size });
  v.upsertMember(2, '127.0.0.1:7071');
  v.upsertMember(3, '127.0.0.1:7072');
  v.setUp(2, true);
  v.member(2)!.capacity = 1_000_000;
  // A full copy, then a delta that replaces one record (a bigger version) and removes another.
  v.applyRecords(2, page([sized('a', 100), sized('b', 20), sized('c', 3)], {}));
  v.applyRecords(
    2,
    page([sized('a', 250)], {
      full: false,
      reset: false,
      baseVersion: 0,
      version: 1,
      removed: ['b'],
    }),
  );
  // Member 3 is down: not a candidate. This server places, so it is none either.
  v.applyRecords(3, page([sized('d', 7)], {}));
  assert.deepEqual(v.placementCandidates(), [{ id: 2, files: 2, bytes: 253, capacity: 1_000_000 }]);
  v.setUp(3, true);
  assert.deepEqual(v.placementCandidates()[1], { id: 3, files: 1, bytes: 7 });
  // A full copy with reset starts the total again.
  v.applyRecords(2, page([sized('e', 5)], { version: 2 }));
  assert.equal(v.placementCandidates()[0]!.bytes, 5);
  // status shows a capacity given (this server's and a member's).
  v.selfCapacity = 2_000_000;
  const servers = v.servers();
  assert.deepEqual(
    servers.map((s) => [s.id, s.capacity]),
    [
      [1, 2_000_000],
      [2, 1_000_000],
      [3, undefined],
    ],
  );
});
