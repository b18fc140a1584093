/**
 * Issue 13's 10-minute torture (seed 13) read a deleted file back, twice in one run:
 * a create's copy reached its holder, which stored it and was killed before it
 * answered END. The primary took the copy as failed, left the holder out of the
 * record, and a delete soon after (the holder still down) waited for nobody: its
 * tombstone was buried by the next create of the name. The holder came back from its
 * journal with the deleted file, and nothing anywhere said it was deleted.
 *
 * Here the holder kills itself right after its journal flush of the copy (a crash
 * point), the file is deleted, the name made and deleted again, and the holder
 * restarted: the old file must not come back under its name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { deleteWhileDownThenReturn } from './stays-deleted.ts';

test('unsure copy - a copy stored by a holder killed before it answered END stays deleted after the holder returns', async (t) => {
  const cluster = await startCluster(t, 2, {
    args: ['--replicas', '2'],
    // Server 2 dies the first time it has journaled a change: the copy of the create.
    env: (i) => (i === 1 ? { LANFS_CRASH_POINT: 'journal-after-fsync' } : {}),
  });
  const holder = cluster.servers[1]!;
  const created = await runCli(['create', 'doc.txt'], { env: cluster.env(0), input: 'old\n' });
  assert.equal(created.code, 0, created.stderr);
  await holder.exited;
  await deleteWhileDownThenReturn(cluster, 'doc.txt', 0, 1);
});
