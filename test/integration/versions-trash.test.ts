/**
 * Issue 14 (nothing lost to a mistake), on real servers through the real CLI:
 * versions kept by every holder (history, download NAME@N, restore), the trash
 * (delete, trash, undelete: same bytes and sha256), both surviving a restart and
 * working with the primary down, budgets pruned oldest first, and edit leases
 * seen by another client and gone after the editing client is killed -9.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanEnv, LANFS_BIN, runCli } from '../harness/cli.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

interface HistoryLine {
  version: number;
  size: number;
  sha256: string;
  writtenBy?: string;
  current: boolean;
}

async function lanfs(c: TestCluster, args: string[], i?: number, input?: string) {
  const result = await runCli(args, {
    env: c.env(i, { LANFS_CLIENT_HOST: 'laptop-a' }),
    input,
  });
  assert.equal(result.code, 0, `lanfs ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function history(c: TestCluster, name: string, i?: number): Promise<HistoryLine[]> {
  return JSON.parse(await lanfs(c, ['history', name, '--json'], i)) as HistoryLine[];
}

/** An editor script that writes `text` into the file it is given. */
async function editorWriting(dir: string, text: string): Promise<string> {
  const path = join(dir, `editor-${sha(text).slice(0, 8)}.sh`);
  await writeFile(path, `#!/bin/sh\nprintf '%s' '${text}' > "$1"\n`);
  await chmod(path, 0o755);
  return path;
}

test('versions: edit, history, restore, history; download NAME@N; after a restart and with the primary down', async (t) => {
  const c = await startCluster(t, 2, { args: ['--replicas', '2'] });
  const scratch = await tempDir(t);
  await lanfs(c, ['create', 'notes.txt'], 0, 'one');
  for (const text of ['two', 'three']) {
    const editor = await editorWriting(scratch, text);
    const r = await runCli(['edit', 'notes.txt'], {
      env: c.env(0, { EDITOR: editor, LANFS_CLIENT_HOST: 'laptop-a' }),
    });
    assert.equal(r.code, 0, r.stderr);
  }
  let lines = await history(c, 'notes.txt', 0);
  assert.deepEqual(
    lines.map((l) => [l.version, l.sha256, l.current]),
    [
      [3, sha('three'), true],
      [2, sha('two'), false],
      [1, sha('one'), false],
    ],
  );
  assert.equal(lines[0]!.writtenBy, 'laptop-a');
  assert.equal(await lanfs(c, ['download', 'notes.txt@1', '-o', '-'], 0), 'one');

  await lanfs(c, ['restore', 'notes.txt@1'], 0);
  lines = await history(c, 'notes.txt', 0);
  assert.deepEqual(
    lines.map((l) => [l.version, l.sha256]),
    [
      [4, sha('one')],
      [3, sha('three')],
      [2, sha('two')],
      [1, sha('one')],
    ],
  );
  // Kept versions are never listed as files.
  const shown = JSON.parse(await lanfs(c, ['show', '--json'], 0)) as { name: string }[];
  assert.deepEqual(
    shown.map((r) => r.name),
    ['notes.txt'],
  );

  // The copy holder kept the versions it saw: it answers with the primary (server 1) down,
  // and so does server 1's own store after a restart.
  await c.stop(0);
  await waitFor(
    'server 1 down on server 2',
    () => c.upIds(1),
    (up) => !up.includes(1),
  );
  lines = await history(c, 'notes.txt', 1);
  assert.deepEqual(
    lines.map((l) => l.version),
    [4, 3, 2, 1],
  );
  assert.equal(await lanfs(c, ['download', 'notes.txt@2', '-o', '-'], 1), 'two');
  await c.restart(0);
  await c.stop(1);
  await waitFor(
    'server 2 down on server 1',
    () => c.upIds(0),
    (up) => !up.includes(2),
  );
  assert.equal(await lanfs(c, ['download', 'notes.txt@3', '-o', '-'], 0), 'three');
  assert.deepEqual(
    (await history(c, 'notes.txt', 0)).map((l) => l.version),
    [4, 3, 2, 1],
  );
  const missing = await runCli(['download', 'notes.txt@9', '-o', '-'], { env: c.env(0) });
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /Version 9 of "notes.txt" is not kept/);
});

test('trash: delete, trash, undelete bring back the same bytes; after a restart, with the primary down; a reused name is refused', async (t) => {
  const c = await startCluster(t, 2, { args: ['--replicas', '2'] });
  await lanfs(c, ['create', 'docs/report.txt'], 0, 'quarterly numbers');
  await lanfs(c, ['delete', 'docs/report.txt'], 0);
  const trash = JSON.parse(await lanfs(c, ['trash', '--json'], 0)) as {
    name: string;
    sha256: string;
    deletedBy?: string;
    servers: number[];
  }[];
  assert.equal(trash.length, 1);
  assert.equal(trash[0]!.name, 'docs/report.txt');
  assert.equal(trash[0]!.sha256, sha('quarterly numbers'));
  assert.equal(trash[0]!.deletedBy, 'laptop-a');
  assert.deepEqual(trash[0]!.servers.sort(), [1, 2]);
  // Never listed as a file.
  assert.deepEqual(JSON.parse(await lanfs(c, ['show', '--json'], 0)), []);

  // Survives a restart of both; then the primary (server 1) is down and server 2 brings it back.
  await c.stop(0);
  await c.stop(1);
  await c.restart(0);
  await c.restart(1);
  await waitFor(
    'both up',
    () => c.upIds(1),
    (up) => up.includes(1) && up.includes(2),
  );
  await c.stop(0);
  await waitFor(
    'server 1 down on server 2',
    () => c.upIds(1),
    (up) => !up.includes(1),
  );
  await lanfs(c, ['undelete', 'docs/report.txt'], 1);
  assert.equal(await lanfs(c, ['download', 'docs/report.txt', '-o', '-'], 1), 'quarterly numbers');
  const back = JSON.parse(await lanfs(c, ['show', '--json'], 1)) as {
    name: string;
    sha256: string;
  }[];
  assert.equal(back[0]!.sha256, sha('quarterly numbers'));

  // Server 1 comes back with its stale tombstone and trash: the undeleted file stays.
  await c.restart(0);
  await waitFor(
    'both up',
    () => c.upIds(1),
    (up) => up.includes(1) && up.includes(2),
  );
  await waitFor(
    'the undeleted file on both servers',
    async () => JSON.parse(await lanfs(c, ['show', '--json'], 0)) as { replicas: number[] }[],
    (records) => records.length === 1,
  );
  assert.equal(await lanfs(c, ['download', 'docs/report.txt', '-o', '-'], 0), 'quarterly numbers');

  // A name used again after the delete: undelete refuses, --as puts it elsewhere.
  await lanfs(c, ['create', 'old.txt'], 0, 'first');
  await lanfs(c, ['delete', 'old.txt'], 0);
  await lanfs(c, ['create', 'old.txt'], 0, 'second');
  const refused = await runCli(['undelete', 'old.txt'], { env: c.env(0) });
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /--as NEW/);
  await lanfs(c, ['undelete', 'old.txt', '--as', 'old-first.txt'], 0);
  assert.equal(await lanfs(c, ['download', 'old-first.txt', '-o', '-'], 0), 'first');
  assert.equal(await lanfs(c, ['download', 'old.txt', '-o', '-'], 0), 'second');

  // --purge skips the trash.
  await lanfs(c, ['delete', '--purge', 'old.txt'], 0);
  // --purge skips the trash of the primary and of the live copy holders (REPLICA_DELETE purge).
  const left = JSON.parse(await lanfs(c, ['trash', '--json'], 0)) as {
    sha256: string;
    servers: number[];
  }[];
  assert.ok(!left.some((i) => i.sha256 === sha('second')));
});

test('budget: versions beyond --keep-versions and past --versions-budget go oldest first', async (t) => {
  const c = await startCluster(t, 1, {
    args: ['--keep-versions', '3', '--versions-budget', '2500'],
  });
  const scratch = await tempDir(t);
  await lanfs(c, ['create', 'big.bin'], 0, 'v'.repeat(1000));
  for (let v = 2; v <= 5; v++) {
    const editor = await editorWriting(scratch, String(v).repeat(1000));
    const r = await runCli(['edit', 'big.bin'], { env: c.env(0, { EDITOR: editor }) });
    assert.equal(r.code, 0, r.stderr);
  }
  // 4 versions replaced, 1000 bytes each: --keep-versions 3 drops version 1, the
  // 2500-byte budget then version 2: versions 3 and 4 stay.
  const lines = await waitFor(
    'pruned',
    () => history(c, 'big.bin', 0),
    (l) => l.length === 3,
  );
  assert.deepEqual(
    lines.map((l) => l.version),
    [5, 4, 3],
  );
  const kept = await readdir(join(c.data(0), '.lanfs', 'versions'));
  assert.equal(kept.length, 2);
  await waitFor(
    'the budget logged',
    () => c.servers[0]!.log(),
    (log) => /versions budget is full/.test(log),
  );
});

test('leases: an edit in progress is seen by another client, and gone after the editor is killed -9', async (t) => {
  const c = await startCluster(t, 2, { args: ['--replicas', '2'] });
  await lanfs(c, ['create', 'shared.txt'], 0, 'hello');
  const scratch = await tempDir(t);
  const editor = join(scratch, 'slow-editor.sh');
  await writeFile(editor, '#!/bin/sh\nsleep 60\n');
  await chmod(editor, 0o755);
  const child = spawn(process.execPath, [LANFS_BIN, 'edit', 'shared.txt'], {
    env: cleanEnv(c.env(0, { EDITOR: editor, LANFS_CLIENT_HOST: 'laptop-a' })),
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  onCleanup(t, async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  });
  const shown = await waitFor(
    'the lease seen from server 2',
    async () => (await runCli(['show'], { env: c.env(1) })).stdout,
    (out) => /being edited on laptop-a since/.test(out),
  );
  assert.match(shown, /shared\.txt/);
  const second = await runCli(['edit', 'shared.txt'], {
    env: c.env(1, { EDITOR: 'true', LANFS_CLIENT_HOST: 'laptop-b' }),
  });
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /being edited on laptop-a since .*--force/);
  // kill -9 the whole editing client (the CLI and its editor): the lease expires.
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
  await waitFor(
    'the lease gone',
    async () => (await runCli(['show'], { env: c.env(1) })).stdout,
    (out) => !/being edited/.test(out),
    { timeoutMs: 30_000 },
  );
  const file = await readFile(join(c.data(0), 'shared.txt'), 'utf8');
  assert.equal(file, 'hello');
});
