/**
 * The end shared by the tests of a server that may hold a file nobody knows it holds
 * (it died before answering): while it is down the file is deleted, the name made anew
 * and deleted again (so no tombstone of the name is left that nobody waits for), then
 * it comes back. The first file must not come back under its name, on any server.
 */
import assert from 'node:assert/strict';
import { runCli } from '../harness/cli.ts';
import type { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

export async function deleteWhileDownThenReturn(
  cluster: TestCluster,
  name: string,
  /** Indexes of the server that stays up and of the one that died. */
  live: number,
  returning: number,
): Promise<void> {
  const returningId = returning + 1;
  await cluster.waitUp(returningId, live, false);
  const env = cluster.env(live);
  const deleted = await runCli(['delete', name], { env });
  assert.equal(deleted.code, 0, deleted.stderr);
  const again = await runCli(['create', name], { env, input: 'second\n' });
  assert.equal(again.code, 0, again.stderr);
  const deletedAgain = await runCli(['delete', name], { env });
  assert.equal(deletedAgain.code, 0, deletedAgain.stderr);

  await cluster.restart(returning, { env: { LANFS_CRASH_POINT: '' } });
  await cluster.waitUp(returningId, live, true, 15_000);
  for (const i of [live, returning])
    await waitFor(
      `server ${i + 1} without ${name}`,
      () => runCli(['show', '--json'], { env: cluster.env(i) }),
      (r) => r.code === 0 && !r.stdout.includes(name),
      { timeoutMs: 15_000 },
    );
  // And it stays so: the returning server's copy was removed, not only hidden for a while.
  const shown = await runCli(['show', '--json'], { env: cluster.env(returning) });
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(!shown.stdout.includes(name), `the deleted file came back on server ${returningId}`);
}
