/**
 * Issue 13's 10-minute torture (seed 13, 320 s) read a deleted file back: an edit
 * reached the file's primary, which stored the new version and was killed before it
 * answered or passed it on; the client could not tell whether it took effect. Another
 * server then deleted the file (acknowledged). The primary came back 2.4 s later with
 * its newer version, which the tombstone (of the older version) did not cover: "the
 * edit beats the delete", and the deleted file was back under its name.
 *
 * A version made before the delete is deleted with the file; only one made after it
 * (on the other side of a partition) beats it (test/netns/partition.test.ts).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { runCli } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

test('edit before delete - a version stored by a primary killed before it answered does not outlive a later delete', async (t) => {
  const cluster = await startCluster(t, 2, {
    args: ['--replicas', '2'],
    // Server 1 dies the second time it has journaled a change: the edit (the first is the create).
    env: (i) =>
      i === 0 ? { LANFS_CRASH_POINT: 'journal-after-fsync', LANFS_CRASH_SKIP: '1' } : {},
  });
  const primary = cluster.servers[0]!;
  const created = await runCli(['create', 'doc.txt'], { env: cluster.env(0), input: 'old\n' });
  assert.equal(created.code, 0, created.stderr);
  await waitFor(
    'the copy on server 2',
    () => runCli(['show', '--json'], { env: cluster.env(1) }),
    (r) => r.code === 0 && r.stdout.includes('doc.txt'),
    { timeoutMs: 10_000 },
  );
  // From a stream read once, so the client cannot send it again elsewhere: its outcome
  // stays unknown to it.
  const credentials = { key: cluster.key!, insecure: false, cluster: 'lanfs' };
  const client = await LanfsClient.connect({ servers: [primary.address], credentials });
  onCleanup(t, () => client.close());
  const edit = await client.edit('doc.txt', 1, Readable.from([Buffer.from('new\n')])).then(
    () => 'answered',
    () => 'no answer',
  );
  await primary.exited;
  assert.equal(edit, 'no answer', 'the edit was answered: the crash point did not fire there');
  await cluster.waitUp(1, 1, false);
  const deleted = await runCli(['delete', 'doc.txt'], { env: cluster.env(1) });
  assert.equal(deleted.code, 0, deleted.stderr);

  await cluster.restart(0, { env: { LANFS_CRASH_POINT: '' } });
  await cluster.waitUp(1, 1, true, 15_000);
  for (const i of [0, 1])
    await waitFor(
      `server ${i + 1} without doc.txt`,
      () => runCli(['show', '--json'], { env: cluster.env(i) }),
      (r) => r.code === 0 && !r.stdout.includes('doc.txt'),
      { timeoutMs: 15_000 },
    );
  // The edit's bytes are not lost: server 1 keeps them in its trash.
  const trash = await runCli(['trash', '--json'], { env: cluster.env(0) });
  assert.equal(trash.code, 0, trash.stderr);
  assert.ok(trash.stdout.includes('doc.txt'), 'the deleted versions are in the trash');
});
