/**
 * Catch-up (issue 11): a server that returns holding an old version fetches the
 * new one the moment it hears of it, not at its next periodic round. The servers
 * run in this process so that the returning one can start with its periodic
 * timers frozen (node:test's mock timers): whatever catches it up then is the
 * news from its peers, never a timer.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { LanfsServer } from '../../src/server/server.ts';
import { runCli } from '../harness/cli.ts';
import { startInProcess } from '../harness/in-process.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'catch-up-test-key';

function startServer(
  t: TestContext,
  dataDir: string,
  id: number,
  peers: string[],
): Promise<LanfsServer> {
  // Only a closed link marks a server down here: the frozen one sends no heartbeats.
  return startInProcess(t, { dataDir, id, key: KEY, peers, peerTimeoutMs: 120_000 });
}

const lanfs = (
  server: LanfsServer,
  args: string[],
  options: { input?: string; editor?: string } = {},
) =>
  runCli(args, {
    input: options.input,
    env: {
      LANFS_KEY: KEY,
      LANFS_SERVER: server.address,
      ...(options.editor ? { EDITOR: options.editor } : {}),
    },
  });

test('catch-up - a primary back after an edit made while it was down fetches the new version without waiting for a periodic round', async (t) => {
  // First registered, so it runs before the servers stop (their real timers are then cleared).
  t.after(() => t.mock.timers.reset());
  const dirs = [await tempDir(t), await tempDir(t), await tempDir(t)];
  const one = await startServer(t, dirs[0]!, 1, []);
  const two = await startServer(t, dirs[1]!, 2, [one.address]);
  const three = await startServer(t, dirs[2]!, 3, [one.address]);
  for (const server of [one, two, three])
    await waitFor(
      `server ${server.id} sees the others`,
      () => server.view.liveMembers().length,
      (n) => n === 2,
    );
  const created = await lanfs(one, ['create', 'notes.txt'], { input: 'v1\n' });
  assert.equal(created.code, 0, created.stderr);
  await waitFor(
    'the copy of notes.txt on server 2',
    () => two.catalog.get('notes.txt')?.version,
    (v) => v === 1,
  );
  await one.stop();
  await waitFor(
    'server 1 down on server 2',
    () => two.view.member(1)?.up,
    (up) => up === false,
  );
  const edited = await lanfs(two, ['edit', 'notes.txt'], {
    editor: `sh -c 'echo v2 > "$1"' editor`,
  });
  assert.equal(edited.code, 0, edited.stderr);

  // Server 1 returns with its periodic timers (rounds, heartbeats, sweeps) frozen.
  t.mock.timers.enable({ apis: ['setInterval'] });
  const back = await startServer(t, dirs[0]!, 1, []);
  await waitFor(
    'server 1 holding version 2',
    () => readFile(join(dirs[0]!, 'notes.txt'), 'utf8'),
    (bytes) => bytes === 'v2\n',
  );
  assert.equal(back.catalog.get('notes.txt')?.version, 2);
});
