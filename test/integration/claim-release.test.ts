/**
 * A create claims its name on every server until its record arrives there. The
 * record's arrival must end the claim, so a file created, deleted, and created
 * again through another server right away is not refused as "being created on
 * another server" for the claim's whole hold time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

test('claims - a name created, deleted and created again through another server at once is free', async (t) => {
  const c = await startCluster(t, 3, { key: 'claim-release-key' });
  const lanfs = (i: number, args: string[], input?: string) =>
    runCli(args, { env: c.env(i), input });
  for (const round of [1, 2, 3]) {
    const created = await lanfs(0, ['create', 'again.txt'], `round ${round}\n`);
    assert.equal(created.code, 0, created.stderr);
    await waitFor(
      'server 2 lists the file',
      async () => (await lanfs(1, ['show', '--json'])).stdout,
      (out) => out.includes('again.txt'),
    );
    assert.equal((await lanfs(0, ['delete', '--purge', 'again.txt'])).code, 0);
    await waitFor(
      'server 2 sees it deleted',
      async () => (await lanfs(1, ['show', '--json'])).stdout,
      (out) => !out.includes('again.txt'),
    );
    const again = await lanfs(1, ['create', 'again.txt'], `again ${round}\n`);
    assert.equal(again.code, 0, `round ${round}: ${again.stderr}`);
    assert.equal((await lanfs(1, ['delete', '--purge', 'again.txt'])).code, 0);
    await waitFor(
      'server 1 sees it deleted',
      async () => (await lanfs(0, ['show', '--json'])).stdout,
      (out) => !out.includes('again.txt'),
    );
  }
});
