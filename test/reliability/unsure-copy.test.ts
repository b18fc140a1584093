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
import { waitFor } from '../harness/wait-for.ts';

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
  await waitFor(
    'server 2 marked down by server 1',
    async () => (await cluster.upIds(0)).includes(2),
    (up) => !up,
    { timeoutMs: 10_000 },
  );
  // Deleted while its copy's holder is down; the name made anew and deleted again,
  // so no tombstone of the name that nobody waits for is left behind.
  const deleted = await runCli(['delete', 'doc.txt'], { env: cluster.env(0) });
  assert.equal(deleted.code, 0, deleted.stderr);
  const again = await runCli(['create', 'doc.txt'], { env: cluster.env(0), input: 'second\n' });
  assert.equal(again.code, 0, again.stderr);
  const deletedAgain = await runCli(['delete', 'doc.txt'], { env: cluster.env(0) });
  assert.equal(deletedAgain.code, 0, deletedAgain.stderr);

  await cluster.restart(1, { env: { LANFS_CRASH_POINT: '' } });
  await waitFor(
    'server 2 back in server 1 view',
    () => cluster.upIds(0),
    (up) => up.includes(2),
    { timeoutMs: 15_000 },
  );
  for (const i of [0, 1])
    await waitFor(
      `server ${i + 1} without doc.txt`,
      () => runCli(['show', '--json'], { env: cluster.env(i) }),
      (r) => r.code === 0 && !r.stdout.includes('doc.txt'),
      { timeoutMs: 15_000 },
    );
  // And it stays so: the holder's copy was removed, not only hidden for a while.
  const shown = await runCli(['show', '--json'], { env: cluster.env(1) });
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(!shown.stdout.includes('doc.txt'), 'the deleted file came back on server 2');
});
