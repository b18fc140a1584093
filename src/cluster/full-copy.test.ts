/**
 * The view's rule behind issue 16's stalled join: a full copy of a member's records
 * that has begun and not ended is not the member's catalog at its version. The mesh
 * asks again when a heartbeat's version is not current, and names the version it
 * holds (heldVersion) so the answer is only what changed since; part of a copy must
 * count as neither (test/scale/full-copy-cut.test.ts runs the same over real links).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FileRecord } from '../protocol/messages.ts';
import { silentLogger } from '../shared/logger.ts';
import { LocalCatalog } from '../storage/local-catalog.ts';
import { ClusterView, type RecordsPage } from './cluster-view.ts';

async function view(t: TestContext): Promise<ClusterView> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-full-copy-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const { catalog } = await LocalCatalog.open({ root, serverId: 1, logger: silentLogger() });
  t.after(() => catalog.close());
  const v = new ClusterView(catalog, () => '127.0.0.1:7070');
  v.upsertMember(2, '127.0.0.1:7071');
  v.setUp(2, true);
  return v;
}

const record = (name: string): FileRecord => ({
  name,
  fileId: 'f00df00df00df00d',
  size: 1,
  sha256: 'a'.repeat(64),
  version: 1,
  primary: 2,
  replicas: [],
  modifiedAt: 0,
});

const RUN = 'feedfeedfeedfeed';
const fullPage = (names: string[], reset: boolean, done: boolean): RecordsPage => ({
  instance: RUN,
  version: 5,
  baseVersion: 5,
  full: true,
  reset,
  done,
  records: names.map(record),
  removed: [],
  tombstones: [],
});

test('full copy - a copy begun and not ended is not current, and names no version to sync from', async (t) => {
  const v = await view(t);
  assert.equal(v.applyRecords(2, fullPage(['a', 'b'], true, false)), true);
  // What the cut link's copy left: the run and version are known, the records are not all.
  assert.equal(v.isCurrent(2, RUN, 5), false);
  assert.equal(v.heldVersion(2), undefined);
  // A delta between the pages applies (the copy goes on), and the copy is still not whole.
  assert.equal(
    v.applyRecords(2, { ...fullPage(['c'], false, true), full: false, version: 6 }),
    true,
  );
  assert.equal(v.isCurrent(2, RUN, 6), false);

  // The copy asked again from the start (reset), to its last page: now current.
  assert.equal(v.applyRecords(2, { ...fullPage(['a', 'b'], true, false), version: 6 }), true);
  assert.equal(v.isCurrent(2, RUN, 6), false);
  assert.equal(v.applyRecords(2, { ...fullPage(['c', 'd'], false, true), version: 6 }), true);
  assert.equal(v.isCurrent(2, RUN, 6), true);
  assert.deepEqual(v.heldVersion(2), { instance: RUN, version: 6 });
  assert.equal(v.member(2)?.records.size, 4);
});

test('full copy - a page alone (no done flag) is a whole copy, as before', async (t) => {
  const v = await view(t);
  const { done: _done, ...alone } = fullPage(['a'], true, true);
  assert.equal(v.applyRecords(2, alone), true);
  assert.equal(v.isCurrent(2, RUN, 5), true);
  assert.deepEqual(v.heldVersion(2), { instance: RUN, version: 5 });
});
