/**
 * Seed 13's 10-minute torture read the bytes of an edit the client had reported as
 * refused: its server applied it and was killed before answering; the client sent it
 * again to another server, which answered "held by server 2, which is down" (the
 * file's only live holder was the server that died). That says nothing of the first
 * try: the client must report the edit's outcome as unknown, not as refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { LanfsError } from '../../src/shared/errors.ts';
import { runCli } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

test('edit in doubt - an edit applied by a server that died before answering is not reported as refused', async (t) => {
  const cluster = await startCluster(t, 2, {
    args: ['--replicas', '1'],
    // Server 2 journals the create, then dies right after journaling the edit (applied).
    env: (i) =>
      i === 1 ? { LANFS_CRASH_POINT: 'journal-after-fsync', LANFS_CRASH_SKIP: '1' } : {},
  });
  const created = await runCli(['create', 'doc.txt'], { env: cluster.env(1), input: 'one\n' });
  assert.equal(created.code, 0, created.stderr);
  await waitFor(
    'doc.txt known to server 1',
    () => runCli(['show', '--json'], { env: cluster.env(0) }),
    (r) => r.code === 0 && r.stdout.includes('doc.txt'),
  );
  const credentials = { key: cluster.key!, insecure: false, cluster: 'lanfs' };
  const client = await LanfsClient.connect({
    servers: [cluster.servers[1]!.address, cluster.servers[0]!.address],
    credentials,
  });
  onCleanup(t, () => client.close());
  const outcome = await client.edit('doc.txt', 1, [Buffer.from('two\n')]).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(outcome instanceof LanfsError, `the edit failed with ${String(outcome)}`);
  assert.equal(
    outcome.code,
    'LANFS_ERR_CONNECTION_CLOSED',
    `reported as ${outcome.code}: ${outcome.message}`,
  );
  // It had been applied: server 2 comes back with version 2.
  await cluster.restart(1, { env: { LANFS_CRASH_POINT: '' } });
  await waitFor(
    'doc.txt at version 2',
    () => runCli(['show', '--json'], { env: cluster.env(1) }),
    (r) => r.code === 0 && /"version": 2/.test(r.stdout),
    { timeoutMs: 15_000 },
  );
});
