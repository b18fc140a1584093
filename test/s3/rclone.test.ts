/**
 * S3 with rclone's s3 backend, a real client nobody here wrote: a tree of 200
 * files of mixed sizes goes into a 3-server cluster with one copy per file,
 * parts of it first through the other servers, so the server rclone then talks
 * to holds only some of the files and streams the others; `check --download`
 * compares every byte; a change to a file another server made, and a deletion,
 * are synced through it (the change forwarded to that file's primary); then
 * list and purge.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { makeFileTree, tempDir } from '../harness/tmp-dir.ts';
import { rclone, rcloneEnv } from './s3-clients.ts';

test('s3 - rclone copies 200 files in, checks them byte for byte through a server holding some, syncs a change and a deletion, lists, purges', async (t) => {
  const { servers } = await startCluster(t, 3, { args: ['--http-port', '0', '--replicas', '1'] });
  const env = await rcloneEnv(
    t,
    TEST_KEY,
    servers.map((s) => s.httpPort!),
  );
  const src = await tempDir(t, 'lanfs-rclone-s3-');
  const names = await makeFileTree(src);

  await rclone(env, 'mkdir', 's1:tree');
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
  assert.equal(
    files.filter((f) => f.name.startsWith('tree/') && !f.name.endsWith('.lanfs-folder')).length,
    200,
  );

  await rclone(env, 'check', '--download', src, 's1:tree');

  // A change to a file whose primary is server 2, synced through server 1 (forwarded there),
  // a file only touched (rclone sets its new time with a copy onto itself), and a deletion.
  const changed = names.find((n) => n.startsWith('b/'))!;
  await writeFile(join(src, changed), randomBytes(5000));
  const touched = names.find((n) => n.startsWith('c/'))!;
  await utimes(join(src, touched), new Date('2020-01-02'), new Date('2020-01-02'));
  const gone = names.filter((n) => n.startsWith('c/'))[1]!;
  await rm(join(src, gone));
  await rclone(env, 'sync', src, 's1:tree');
  await rclone(env, 'check', '--download', src, 's1:tree');
  await rclone(env, 'check', '--download', src, 's2:tree');

  const listed = JSON.parse(
    (await rclone(env, 'lsjson', '-R', '--files-only', 's3:tree')).stdout,
  ) as { Path: string; Size: number; ModTime: string }[];
  assert.equal(listed.length, 199);
  assert.ok(!listed.some((e) => e.Path === gone));
  assert.equal(listed.find((e) => e.Path === changed)?.Size, 5000);
  assert.equal(listed.find((e) => e.Path === touched)?.ModTime.slice(0, 10), '2020-01-02');

  await rclone(env, 'purge', 's2:tree/c');
  const left = (await rclone(env, 'lsf', '-R', '--files-only', 's1:tree')).stdout
    .trim()
    .split('\n');
  assert.equal(left.length, 199 - (names.filter((n) => n.startsWith('c/')).length - 1));
  assert.ok(left.every((p) => !p.startsWith('c/')));
});
