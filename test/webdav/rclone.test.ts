/**
 * WebDAV with rclone, a real client nobody here wrote: its webdav backend copies
 * a tree of 200 files of mixed sizes into a 3-server cluster (part of it first
 * through the other servers, so the server rclone then talks to holds only some
 * files and streams the others through), checks every byte with
 * `check --download`, syncs a change and a deletion, and lists; then
 * `rclone mount` (FUSE) writes, lists and reads back through a mount.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServerProcess } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { makeFileTree, tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeout = 60_000,
): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        timeout,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

/** rclone remotes s1, s2, s3: the /dav/ of each server, by environment only (no config file). */
async function rcloneEnv(servers: ServerProcess[]): Promise<NodeJS.ProcessEnv> {
  const obscured = await run('rclone', ['obscure', TEST_KEY]);
  assert.equal(obscured.code, 0, obscured.stderr);
  const env: NodeJS.ProcessEnv = { RCLONE_CONFIG: '/dev/null' };
  servers.forEach((s, i) => {
    const remote = `RCLONE_CONFIG_S${i + 1}_`;
    env[`${remote}TYPE`] = 'webdav';
    env[`${remote}URL`] = `http://127.0.0.1:${s.httpPort}/dav/`;
    env[`${remote}VENDOR`] = 'other';
    env[`${remote}USER`] = 'rclone';
    env[`${remote}PASS`] = obscured.stdout.trim();
  });
  return env;
}

const QUIET = ['--config', '/dev/null', '-q', '--transfers', '4', '--checkers', '4'];

async function rclone(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  const result = await run('rclone', [...QUIET, ...args], env);
  assert.equal(result.code, 0, `rclone ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result;
}

test('webdav - rclone copies 200 files in, checks them byte for byte, syncs a change and a deletion, lists', async (t) => {
  const { servers } = await startCluster(t, 3, { args: ['--http-port', '0', '--replicas', '1'] });
  const env = await rcloneEnv(servers);
  const src = await tempDir(t, 'lanfs-rclone-');
  const names = await makeFileTree(src);

  // Folders b and c arrive through servers 2 and 3 first: server 1 holds only folder a.
  await rclone(env, 'copy', join(src, 'b'), 's2:tree/b');
  await rclone(env, 'copy', join(src, 'c'), 's3:tree/c');
  await rclone(env, 'copy', src, 's1:tree');
  const files = (await (
    await fetch(`http://127.0.0.1:${servers[0]!.httpPort}/api/files`, {
      headers: { Authorization: `Bearer ${TEST_KEY}` },
    })
  ).json()) as { name: string; primary: number }[];
  const primaries = new Set(files.filter((f) => f.name.startsWith('tree/')).map((f) => f.primary));
  assert.deepEqual([...primaries].sort(), [1, 2, 3], 'the tree is spread over the three servers');

  await rclone(env, 'check', '--download', src, 's1:tree');

  // A change to a file whose primary is server 2, synced through server 1 (forwarded there).
  const changed = names.find((n) => n.startsWith('b/'))!;
  await writeFile(join(src, changed), randomBytes(5000));
  const gone = names.find((n) => n.startsWith('c/'))!;
  await rm(join(src, gone));
  await rclone(env, 'sync', src, 's1:tree');
  await rclone(env, 'check', '--download', src, 's1:tree');
  await rclone(env, 'check', '--download', src, 's2:tree');

  const listed = JSON.parse(
    (await rclone(env, 'lsjson', '-R', '--files-only', 's3:tree')).stdout,
  ) as { Path: string; Size: number }[];
  assert.equal(listed.length, 199);
  assert.ok(!listed.some((f) => f.Path === gone));
  assert.equal(listed.find((f) => f.Path === changed)?.Size, 5000);

  await rclone(env, 'purge', 's1:tree');
  const after = JSON.parse((await rclone(env, 'lsjson', 's2:')).stdout) as unknown[];
  assert.deepEqual(after, []);
});

test('webdav - rclone mount: write, list and read back through the mount', async (t) => {
  if (!existsSync('/dev/fuse')) {
    t.skip('/dev/fuse is missing on this machine: rclone mount needs FUSE');
    return;
  }
  const { servers } = await startCluster(t, 2, { args: ['--http-port', '0'] });
  const env = await rcloneEnv(servers);
  // A file made through the other server, to be read through the mount.
  const before = randomBytes(100_000);
  const put = await fetch(`http://127.0.0.1:${servers[1]!.httpPort}/dav/from-http.bin`, {
    method: 'PUT',
    headers: { Authorization: `Basic ${Buffer.from(`u:${TEST_KEY}`).toString('base64')}` },
    body: before,
  });
  assert.equal(put.status, 201);

  const mountpoint = await tempDir(t, 'lanfs-mount-');
  const cache = await tempDir(t, 'lanfs-mount-cache-');
  const child = spawn(
    'rclone',
    [
      ...QUIET,
      'mount',
      's1:',
      mountpoint,
      '--vfs-cache-mode',
      'writes',
      '--vfs-write-back',
      '0s',
      '--dir-cache-time',
      '1s',
      '--cache-dir',
      cache,
    ],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  onCleanup(t, async () => {
    await run('fusermount3', ['-u', mountpoint], {}, 10_000);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    await run('umount', ['-l', mountpoint], {}, 10_000);
  });
  await waitFor(
    'the rclone mount to show the file made over HTTP',
    async () => await readdir(mountpoint),
    (entries) => entries.includes('from-http.bin'),
    { timeoutMs: 20_000, intervalMs: 200 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nrclone: ${stderr}`);
  });

  assert.deepEqual(await readFile(join(mountpoint, 'from-http.bin')), before);
  const written = randomBytes(300_000);
  await mkdir(join(mountpoint, 'docs'));
  await writeFile(join(mountpoint, 'docs', 'report.bin'), written);
  assert.deepEqual(await readdir(join(mountpoint, 'docs')), ['report.bin']);
  assert.deepEqual(await readFile(join(mountpoint, 'docs', 'report.bin')), written);
  // The bytes reached the cluster: the other server serves them.
  const fetched = await waitFor(
    'the file written through the mount to reach the cluster',
    async () =>
      await fetch(`http://127.0.0.1:${servers[1]!.httpPort}/dav/docs/report.bin`, {
        headers: { Authorization: `Bearer ${TEST_KEY}` },
      }),
    (res) => res.status === 200,
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  assert.deepEqual(Buffer.from(await fetched.arrayBuffer()), written);
});
