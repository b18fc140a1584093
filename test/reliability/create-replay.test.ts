/**
 * Issue 13's 10-minute torture read a deleted file back: a create reached server 4,
 * which stored it and was killed before it answered or told anyone. The client sent it
 * again (same request id) to another server, which made it anew under another fileId;
 * that file was edited and deleted. Server 4 came back holding the first one, which no
 * tombstone named, and served it.
 *
 * Here server 1 kills itself right after its journal holds the create (a crash point);
 * the client's replay goes to server 2. The file is deleted, the name made and deleted
 * again, and server 1 restarted: the first try must not come back under its name.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { deleteWhileDownThenReturn } from './stays-deleted.ts';

test('create replay - a create stored by a server killed before it answered stays deleted after that server returns', async (t) => {
  const cluster = await startCluster(t, 2, {
    args: ['--replicas', '1'],
    // Server 1 dies the first time it has journaled a change: the client's create.
    env: (i) =>
      i === 0 ? { LANFS_CRASH_POINT: 'journal-after-fsync' } : { LANFS_LOG_LEVEL: 'info' },
  });
  const first = cluster.servers[0]!;
  // From a file, so the client can send it again to server 2 (stdin cannot be read twice).
  const source = join(await tempDir(t), 'doc.txt');
  await writeFile(source, 'first try\n');
  const created = await runCli(['create', 'doc.txt', '--from', source], { env: cluster.env(0) });
  await first.exited;
  // Server 1 took the create and died before answering: the client replayed it on server 2.
  assert.equal(created.code, 0, created.stderr);
  await deleteWhileDownThenReturn(cluster, 'doc.txt', 1, 0);
  // The path under test was taken: the replay named server 1, and the delete waited for it.
  const log = cluster.servers[1]!.log();
  assert.match(log, /"unsure":\[1\][^\n]*delete also waits for servers whose copy may be stored/);
});
