/**
 * Issue 14, parts 4, 5 and 7, on real servers: the event stream tells of restores,
 * trash moves and edit leases (seen by `lanfs watch` on another server); `status`
 * shows each server's bytes in files, versions and trash and its free disk, and a
 * burst of deletes with its undo command; the HTTP API (history, ?version=N,
 * restore, trash, undelete); `delete --purge` skips the trash on copy holders too;
 * `show --json` says who edits a file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanEnv, LANFS_BIN, runCli } from '../harness/cli.ts';
import { startCluster, TEST_KEY, type TestCluster } from '../harness/cluster.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const auth = { Authorization: `Bearer ${TEST_KEY}` };

async function lanfs(c: TestCluster, args: string[], i?: number, input?: string) {
  const result = await runCli(args, {
    env: c.env(i, { LANFS_CLIENT_HOST: 'laptop-a' }),
    input,
  });
  assert.equal(result.code, 0, `lanfs ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function editorWriting(dir: string, text: string): Promise<string> {
  const path = join(dir, `editor-${sha(text).slice(0, 8)}.sh`);
  await writeFile(path, `#!/bin/sh\nprintf '%s' '${text}' > "$1"\n`);
  await chmod(path, 0o755);
  return path;
}

async function edit(c: TestCluster, name: string, text: string, scratch: string, i = 0) {
  const r = await runCli(['edit', name], {
    env: c.env(i, { EDITOR: await editorWriting(scratch, text), LANFS_CLIENT_HOST: 'laptop-a' }),
  });
  assert.equal(r.code, 0, r.stderr);
}

/** Runs `lanfs ...` in the background until the test ends (killed -9 by then). */
function background(t: Parameters<typeof onCleanup>[0], env: NodeJS.ProcessEnv, args: string[]) {
  const child = spawn(process.execPath, [LANFS_BIN, ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = async (): Promise<void> => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  };
  onCleanup(t, kill);
  return { output: () => out, errors: () => err, kill };
}

test('events: lanfs watch on another server shows restores, trash moves, undeletes, purges and leases', async (t) => {
  const c = await startCluster(t, 2, { args: ['--replicas', '2'] });
  const scratch = await tempDir(t);
  await lanfs(c, ['create', 'notes.txt'], 0, 'one');
  await edit(c, 'notes.txt', 'two', scratch);
  // Watching through server 2; everything below runs on server 1 (the primary).
  const watch = background(t, c.env(1), ['watch', '--json']);
  const events = (): { type: string; name?: string; host?: string; from?: number }[] =>
    watch
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { type: string });
  // The watch says on stderr once it listens.
  await waitFor(
    'the watch to listen',
    () => watch.errors(),
    (text) => /Watching the cluster through server 2/.test(text),
    { timeoutMs: 20_000 },
  );
  await lanfs(c, ['create', 'ping.txt'], 0, 'x');

  await lanfs(c, ['restore', 'notes.txt@1'], 0);
  await lanfs(c, ['delete', 'notes.txt'], 0);
  await lanfs(c, ['undelete', 'notes.txt'], 0);
  await lanfs(c, ['delete', '--purge', 'ping.txt'], 0);
  // An edit that ends: taken, then released.
  await edit(c, 'notes.txt', 'three', scratch);
  // An editor killed -9: its lease expires.
  const slow = join(scratch, 'slow.sh');
  await writeFile(slow, '#!/bin/sh\nsleep 60\n');
  await chmod(slow, 0o755);
  const editing = background(t, c.env(0, { EDITOR: slow, LANFS_CLIENT_HOST: 'laptop-b' }), [
    'edit',
    'notes.txt',
  ]);
  await waitFor(
    'the lease taken',
    () => events(),
    (e) => e.some((x) => x.type === 'lease-taken' && x.host === 'laptop-b'),
  );
  await editing.kill();
  const seen = await waitFor(
    'every event on server 2',
    () => events(),
    (e) => e.some((x) => x.type === 'lease-expired' && x.host === 'laptop-b'),
    { timeoutMs: 30_000 },
  );
  const mine = seen
    .filter((e) => e.type !== 'record-changed' && !e.type.startsWith('copy'))
    .map((e) => `${e.type} ${e.name}`);
  assert.deepEqual(mine, [
    'restored notes.txt',
    'trashed notes.txt',
    'undeleted notes.txt',
    'purged ping.txt',
    'lease-taken notes.txt',
    'lease-released notes.txt',
    'lease-taken notes.txt',
    'lease-expired notes.txt',
  ]);
  const restored = seen.find((e) => e.type === 'restored')!;
  assert.equal(restored.from, 1);
  assert.equal(restored.host, 'laptop-a');
  // The plain-text form names them too.
  const { formatEvent } = await import('../../src/cli/commands/watch.ts');
  assert.match(
    formatEvent(restored as Parameters<typeof formatEvent>[0]),
    /restored {2}notes\.txt {2}version 1 as v3 by laptop-a/,
  );
});

test('status: bytes in files, versions and trash and free disk per server; a burst of deletes with its undo (CLI and /api/status)', async (t) => {
  const c = await startCluster(t, 2, {
    args: ['--replicas', '2', '--http-port', '0'],
  });
  const scratch = await tempDir(t);
  await lanfs(c, ['create', 'a.txt'], 0, 'x'.repeat(1000));
  await edit(c, 'a.txt', 'y'.repeat(500), scratch);
  await lanfs(c, ['create', 'b.txt'], 0, 'z'.repeat(300));
  await lanfs(c, ['delete', 'b.txt'], 0);
  type Space = { files: number; versions: number; trash: number; free: number };
  type Status = {
    servers: { id: number; space?: Space; deleteBursts?: { host: string; undo: string }[] }[];
  };
  const status = async (): Promise<Status> =>
    JSON.parse(await lanfs(c, ['status', '--json'], 0)) as Status;
  const want = (s: Status): boolean =>
    s.servers.length === 2 &&
    s.servers.every(
      (m) =>
        m.space?.files === 500 &&
        m.space.versions === 1000 &&
        m.space.trash === 300 &&
        m.space.free > 0,
    );
  await waitFor('the space of both servers in status --json', status, want);
  const viaHttp = await waitFor(
    'the same in /api/status (asked of server 2)',
    async () =>
      (await (
        await fetch(`http://127.0.0.1:${c.servers[1]!.httpPort}/api/status`, { headers: auth })
      ).json()) as Status,
    want,
  );
  assert.equal(viaHttp.servers.length, 2);
  const text = await lanfs(c, ['status'], 0);
  assert.match(text, /IN FILES +VERSIONS +TRASH +FREE/);

  // A burst: more than half of a folder's files from one client within a minute.
  for (let i = 0; i < 6; i++) await lanfs(c, ['create', `batch/f${i}.txt`], 0, `file ${i}`);
  for (let i = 0; i < 4; i++) await lanfs(c, ['delete', `batch/f${i}.txt`], 0);
  // During the burst even --purge goes to the trash.
  await lanfs(c, ['delete', '--purge', 'batch/f4.txt'], 0);
  const braked = await waitFor('the burst in status --json', status, (s) =>
    s.servers.some((m) => (m.deleteBursts ?? []).length > 0),
  );
  const burst = braked.servers.flatMap((m) => m.deleteBursts ?? [])[0]!;
  assert.equal(burst.host, 'laptop-a');
  assert.match(burst.undo, /^lanfs undelete --since \S+ --from laptop-a$/);
  assert.match(
    await lanfs(c, ['status'], 1),
    /burst of \d+ deletes from laptop-a.*undo with: lanfs undelete --since/,
  );
  // The brake kept them in the trash whatever --purge said: the undo brings them back.
  await lanfs(c, burst.undo.split(' ').slice(1), 0);
  const names = (JSON.parse(await lanfs(c, ['show', '--json'], 0)) as { name: string }[]).map(
    (r) => r.name,
  );
  for (let i = 0; i < 5; i++) assert.ok(names.includes(`batch/f${i}.txt`), names.join());
});

test('HTTP API: history, GET ?version=N, restore, trash and undelete, asked of the server that is not the primary', async (t) => {
  const c = await startCluster(t, 2, { args: ['--replicas', '2', '--http-port', '0'] });
  const scratch = await tempDir(t);
  await lanfs(c, ['create', 'docs/plan.txt'], 0, 'one');
  await edit(c, 'docs/plan.txt', 'two', scratch);
  await edit(c, 'docs/plan.txt', 'three', scratch);
  const base = `http://127.0.0.1:${c.servers[1]!.httpPort}`;
  const get = async (path: string) => await fetch(`${base}${path}`, { headers: auth });
  const post = async (path: string, body?: unknown) =>
    await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const history = await waitFor(
    'the history on server 2',
    async () => (await (await get('/api/history/docs/plan.txt')).json()) as { version: number }[],
    (h) => h.length === 3,
  );
  assert.deepEqual(
    history.map((l) => l.version),
    [3, 2, 1],
  );
  const v1 = await get('/files/docs/plan.txt?version=1');
  assert.equal(v1.status, 200);
  assert.equal(await v1.text(), 'one');
  assert.equal(await (await get('/files/docs/plan.txt?version=2&proxy=1')).text(), 'two');
  const never = await get('/files/docs/plan.txt?version=9');
  assert.equal(never.status, 404);
  assert.match(
    ((await never.json()) as { error: string }).error,
    /Version 9 .* not kept; GET \/api\/history\/docs\/plan.txt/,
  );
  assert.equal((await get('/files/docs/plan.txt?version=x')).status, 400);

  // Restore through server 2: run on the primary (server 1), a new version 4.
  const bad = await post('/api/restore/docs/plan.txt', {});
  assert.equal(bad.status, 400);
  const restored = await post('/api/restore/docs/plan.txt', { version: 1 });
  assert.equal(restored.status, 200, await restored.clone().text());
  assert.equal(((await restored.json()) as { version: number }).version, 4);
  assert.equal(await lanfs(c, ['download', 'docs/plan.txt', '-o', '-'], 0), 'one');
  assert.equal((await post('/api/restore/docs/plan.txt', { version: 9 })).status, 404);

  // Delete, the trash, undelete: the same bytes come back.
  assert.equal(
    (await fetch(`${base}/files/docs/plan.txt`, { method: 'DELETE', headers: auth })).status,
    204,
  );
  const trash = await waitFor(
    'the trash of both servers',
    async () =>
      (await (await get('/api/trash')).json()) as {
        name: string;
        sha256: string;
        servers: number[];
      }[],
    (items) => items.length === 1 && items[0]!.servers.length === 2,
  );
  assert.equal(trash[0]!.name, 'docs/plan.txt');
  assert.equal(trash[0]!.sha256, sha('one'));
  const back = await post('/api/undelete/docs/plan.txt');
  assert.equal(back.status, 201, await back.clone().text());
  assert.equal(((await back.json()) as { sha256: string }).sha256, sha('one'));
  assert.equal(await lanfs(c, ['download', 'docs/plan.txt', '-o', '-'], 1), 'one');
  assert.equal((await post('/api/undelete/docs/never.txt')).status, 404);
  // Wrong methods get 405 with Allow.
  const wrong = await fetch(`${base}/api/restore/docs/plan.txt`, { headers: auth });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'POST');
});

test('delete --purge skips the trash on the copy holders too; show --json says who edits a file', async (t) => {
  const c = await startCluster(t, 2, { args: ['--replicas', '2'] });
  await lanfs(c, ['create', 'secret.txt'], 0, 'do not keep');
  await waitFor(
    'the copy on server 2',
    async () => JSON.parse(await lanfs(c, ['show', '--json'], 1)) as { replicas: number[] }[],
    (r) => r.length === 1 && r[0]!.replicas.length === 1,
  );
  await lanfs(c, ['delete', '--purge', 'secret.txt'], 0);
  assert.deepEqual(JSON.parse(await lanfs(c, ['trash', '--json'], 0)), []);
  for (const i of [0, 1])
    assert.deepEqual(
      (await readdir(join(c.data(i), '.lanfs', 'trash')).catch(() => [])).filter(
        (f) => !f.startsWith('.'),
      ),
      [],
      `server ${i + 1}'s trash folder`,
    );

  await lanfs(c, ['create', 'shared.txt'], 0, 'hello');
  const scratch = await tempDir(t);
  const slow = join(scratch, 'slow.sh');
  await writeFile(slow, '#!/bin/sh\nsleep 60\n');
  await chmod(slow, 0o755);
  background(t, c.env(0, { EDITOR: slow, LANFS_CLIENT_HOST: 'laptop-b' }), ['edit', 'shared.txt']);
  const shown = await waitFor(
    'the lease in show --json (through server 2)',
    async () =>
      JSON.parse(await lanfs(c, ['show', '--json'], 1)) as {
        name: string;
        editing?: { host: string; since: string };
      }[],
    (r) => r.some((f) => f.editing !== undefined),
  );
  const file = shown.find((f) => f.name === 'shared.txt')!;
  assert.equal(file.editing!.host, 'laptop-b');
  assert.ok(!Number.isNaN(Date.parse(file.editing!.since)));
});
