/**
 * The rules every server computes the same from the same records: who takes an
 * edit or delete (the acting primary), who serves a download, what a tombstone
 * hides, and when a tombstone is settled. The cluster view runs over a fake
 * local catalog (records and tombstones in memory): the catalog is not what is
 * tested here, and no socket or folder is needed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { FileRecord } from '../protocol/messages.ts';
import { silentLogger } from '../shared/logger.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';
import type { Tombstone } from '../storage/state-store.ts';
import { ClusterView } from './cluster-view.ts';
import { Replicator } from './replicator.ts';

/** What the view and the tombstone round read of the local catalog, kept in memory. */
class FakeCatalog {
  readonly records = new Map<string, FileRecord>();
  kept: Tombstone[] = [];
  readonly serverId: number;
  constructor(serverId: number) {
    this.serverId = serverId;
  }
  get size(): number {
    return this.records.size;
  }
  get(name: string): FileRecord | undefined {
    return this.records.get(name);
  }
  list(): FileRecord[] {
    return [...this.records.values()];
  }
  tombstones(): Tombstone[] {
    return this.kept;
  }
  /** As LocalCatalog.settleTombstone: drop those seen without the file; bury when none is left. */
  tombstonesOf(name: string): Tombstone[] {
    return this.kept.filter((t) => t.name === name);
  }
  async settleTombstone(
    which: { name: string; fileId: string },
    seenWithout: number[],
  ): Promise<void> {
    await Promise.resolve();
    this.kept = this.kept
      .map((t) =>
        t.name === which.name && t.fileId === which.fileId
          ? { ...t, pending: t.pending.filter((id) => !seenWithout.includes(id)) }
          : t,
      )
      .filter((t) => t.pending.length > 0);
  }
}

const FILE_ID = 'f00df00df00df00d';

const rec = (version: number, primary: number, over: Partial<FileRecord> = {}): FileRecord => ({
  name: 'doc.txt',
  fileId: FILE_ID,
  size: 1,
  sha256: String(version % 10).repeat(64),
  version,
  primary,
  replicas: [],
  modifiedAt: 0,
  ...over,
});

const address = (id: number): string => `127.0.0.1:${7000 + id}`;

/**
 * A view from server `self`, which holds `own` (if any), with peers described by
 * id → {up, records}. Every peer is synced (its full catalog applied).
 */
function viewFrom(
  self: number,
  own: FileRecord[],
  peers: Record<number, { up: boolean; records: FileRecord[]; tombstones?: Tombstone[] }>,
  kept: Tombstone[] = [],
): { view: ClusterView; catalog: FakeCatalog } {
  const catalog = new FakeCatalog(self);
  for (const r of own) catalog.records.set(r.name, r);
  catalog.kept = kept;
  // The view reads only serverId, size, get, list and tombstones of its catalog.
  const view = new ClusterView(catalog as unknown as LocalCatalog, () => address(self));
  for (const [key, peer] of Object.entries(peers)) {
    const id = Number(key);
    view.upsertMember(id, address(id));
    view.applyRecords(id, {
      instance: `feedfeedfeedfe${String(id).padStart(2, '0')}`,
      version: 1,
      baseVersion: 0,
      full: true,
      reset: true,
      records: peer.records,
      removed: [],
      tombstones: (peer.tombstones ?? []).map(({ name, fileId, version }) => ({
        name,
        fileId,
        version,
      })),
    });
    view.setUp(id, peer.up);
  }
  return { view, catalog };
}

test('acting primary - the record primary while it is up and holds the newest version', () => {
  // Server 9 holds nothing; 2 and 3 hold version 2, whose record names 3 as primary.
  const { view } = viewFrom(9, [], {
    2: { up: true, records: [rec(2, 3)] },
    3: { up: true, records: [rec(2, 3)] },
  });
  // Not the lowest id: the primary the record names.
  assert.deepEqual(view.locateForWrite('doc.txt'), {
    kind: 'remote',
    serverId: 3,
    address: address(3),
  });
  assert.equal(view.actingPrimary('doc.txt'), 3);
});

test('acting primary - with the primary down, the lowest-id live holder of the newest version', () => {
  const { view } = viewFrom(9, [], {
    2: { up: true, records: [rec(2, 3)] },
    3: { up: false, records: [rec(2, 3)] },
    4: { up: true, records: [rec(2, 3)] },
    1: { up: true, records: [rec(1, 3)] }, // lower id, but an older version
  });
  assert.deepEqual(view.locateForWrite('doc.txt'), {
    kind: 'remote',
    serverId: 2,
    address: address(2),
  });
});

test('acting primary - a primary that is up but missed the newest version does not take writes', () => {
  const { view } = viewFrom(9, [], {
    3: { up: true, records: [rec(1, 3)] },
    5: { up: true, records: [rec(2, 3)] },
    4: { up: true, records: [rec(2, 3)] },
  });
  assert.equal(view.actingPrimary('doc.txt'), 4);
});

test('acting primary - this server when it is the one; "down" when every newest holder is down; "none" when nobody holds it', () => {
  const here = viewFrom(2, [rec(2, 3)], {
    3: { up: false, records: [rec(2, 3)] },
    4: { up: true, records: [rec(2, 3)] },
  });
  assert.deepEqual(here.view.locateForWrite('doc.txt'), { kind: 'local' });

  // An older copy on a live server never takes a write over a newer one that is down.
  const down = viewFrom(9, [], {
    2: { up: true, records: [rec(1, 3)] },
    3: { up: false, records: [rec(2, 3)] },
    4: { up: false, records: [rec(2, 3)] },
  });
  assert.deepEqual(down.view.locateForWrite('doc.txt'), { kind: 'down', holders: [3, 4] });
  assert.deepEqual(down.view.locateForWrite('other.txt'), { kind: 'none' });
});

test('acting primary - every server computes the same one from the same records', () => {
  const holding = fc.record({
    version: fc.integer({ min: 1, max: 3 }),
    up: fc.boolean(),
  });
  fc.assert(
    fc.property(
      fc.array(fc.option(holding), { minLength: 2, maxLength: 5 }),
      fc.integer({ min: 1, max: 5 }),
      (servers, named) => {
        // Server i+1 holds version servers[i] (or nothing); the newest record names `named`.
        const newest = Math.max(...servers.map((s) => s?.version ?? 0));
        const recordOf = (s: { version: number }): FileRecord =>
          rec(s.version, s.version === newest ? named : 1);
        const answers = new Set<string>();
        servers.forEach((me, i) => {
          if (!me?.up) return; // a server that is down answers nothing
          const peers: Record<number, { up: boolean; records: FileRecord[] }> = {};
          servers.forEach((other, j) => {
            if (j !== i)
              peers[j + 1] = { up: other?.up ?? true, records: other ? [recordOf(other)] : [] };
          });
          const { view } = viewFrom(i + 1, [recordOf(me)], peers);
          answers.add(String(view.actingPrimary('doc.txt')));
        });
        assert.ok(answers.size <= 1, `different answers: ${[...answers].join(', ')}`);
        // And it is a live holder of the newest version.
        const [answer] = [...answers];
        if (answer !== undefined && answer !== 'undefined') {
          const chosen = servers[Number(answer) - 1];
          assert.ok(chosen?.up && chosen.version === newest);
        }
      },
    ),
  );
});

test('read location - any live holder of the newest version; never an older copy, even here', () => {
  const stale = viewFrom(1, [rec(1, 1)], {
    2: { up: false, records: [rec(2, 1)] },
    3: { up: true, records: [rec(2, 1)] },
  });
  assert.deepEqual(stale.view.locateForRead('doc.txt'), {
    kind: 'remote',
    serverId: 3,
    address: address(3),
  });
  const fresh = viewFrom(1, [rec(2, 2)], { 2: { up: true, records: [rec(2, 2)] } });
  assert.deepEqual(fresh.view.locateForRead('doc.txt'), { kind: 'local' });
  const gone = viewFrom(1, [rec(1, 1)], { 2: { up: false, records: [rec(2, 1)] } });
  assert.deepEqual(gone.view.locateForRead('doc.txt'), { kind: 'down', holders: [2] });
  // The listing agrees: the file is there, not available, at the version no live server has.
  const listed = gone.view.list().find((r) => r.name === 'doc.txt');
  assert.equal(listed?.available, false);
  assert.equal(listed?.version, 2);
});

const tombstone = (version: number, pending: number[]): Tombstone => ({
  name: 'doc.txt',
  fileId: FILE_ID,
  version,
  deletedAt: 0,
  pending,
});

test('tombstones - a copy the delete covers is no longer a holder, on any server', () => {
  // Server 1 deleted version 2; server 2 was down and comes back with its copy of version 2.
  const { view } = viewFrom(1, [], { 2: { up: true, records: [rec(2, 1)] } }, [tombstone(2, [2])]);
  assert.deepEqual(view.holders('doc.txt'), []);
  assert.deepEqual(view.locateForRead('doc.txt'), { kind: 'none' });
  assert.deepEqual(view.locateForWrite('doc.txt'), { kind: 'none' });
  assert.equal(view.has('doc.txt'), false);
  assert.equal(
    view.list().some((r) => r.name === 'doc.txt'),
    false,
  );

  // A server that never held it learns the tombstone from the one that keeps it.
  const third = viewFrom(3, [], {
    1: { up: true, records: [], tombstones: [tombstone(2, [2])] },
    2: { up: true, records: [rec(2, 1)] },
  });
  assert.equal(third.view.tombstone('doc.txt')?.version, 2);
  assert.equal(third.view.has('doc.txt'), false);

  // A newer version (made after the delete was decided) or another file of that name is not covered.
  const newer = viewFrom(1, [], { 2: { up: true, records: [rec(3, 2)] } }, [tombstone(2, [2])]);
  assert.equal(newer.view.has('doc.txt'), true);
  const another = viewFrom(
    1,
    [],
    { 2: { up: true, records: [rec(1, 2, { fileId: 'beefbeefbeefbeef' })] } },
    [tombstone(2, [2])],
  );
  assert.equal(another.view.locateForRead('doc.txt').kind, 'remote');
});

test('tombstones - settled only by former holders seen up, synced and without the file', async (t) => {
  const other = rec(1, 1, { name: 'other.txt' });
  // Pending: 2 (up, synced, without the file), 3 (up, still holds it), 4 (down), 5 (up, not yet synced).
  const { view, catalog } = viewFrom(1, [], {
    2: { up: true, records: [other] },
    3: { up: true, records: [rec(2, 1)] },
    4: { up: false, records: [] },
  });
  catalog.kept = [tombstone(2, [2, 3, 4, 5])];
  view.upsertMember(5, address(5));
  view.setUp(5, true);
  const replicator = new Replicator({
    serverId: 1,
    replicas: 2,
    catalog: catalog as unknown as LocalCatalog,
    view,
    credentials: { key: 'k', insecure: false, cluster: 'lanfs' },
    logger: silentLogger(),
  });
  t.after(() => replicator.stop());

  await replicator.reconcile();
  assert.deepEqual(catalog.kept[0]?.pending, [3, 4, 5]);

  // Server 3 drops its copy (a delta without the file), 4 returns empty, 5 sends its catalog.
  assert.ok(
    view.applyRecords(3, {
      instance: 'feedfeedfeedfe03',
      version: 2,
      baseVersion: 1,
      full: false,
      reset: false,
      records: [],
      removed: ['doc.txt'],
      tombstones: [],
    }),
  );
  view.setUp(4, true);
  await replicator.reconcile();
  assert.deepEqual(catalog.kept[0]?.pending, [5]);
  view.applyRecords(5, {
    instance: 'feedfeedfeedfe05',
    version: 1,
    baseVersion: 0,
    full: true,
    reset: true,
    records: [other],
    removed: [],
    tombstones: [],
  });
  await replicator.reconcile();
  assert.deepEqual(catalog.kept, [], 'buried once every former holder let go');
});
