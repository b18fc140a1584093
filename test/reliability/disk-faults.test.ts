/**
 * Disk faults (issue 13 part 4, RELIABILITY.md D1) with real server processes:
 * the disk of the server chosen for a copy fills during a create (the create
 * succeeds with the copies that could be made, healing makes the missing one on
 * another server, nothing partial is left on the full disk); a copy that cannot
 * be read (LANFS_FAULT_READ_ERROR) sends the reader to another holder and is
 * repaired; a slow disk on one server (LANFS_FAULT_SLOW_DISK_MS) does not hold up
 * reads served by the others.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../harness/cli.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { leftoverUploads, tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const exec = promisify(execFile);

interface Listed {
  name: string;
  sha256: string;
  primary: number;
  replicas: number[];
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function listed(cluster: TestCluster, i = 0): Promise<Listed[]> {
  const result = await runCli(['show', '--json'], { env: cluster.env(i) });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Listed[];
}

async function createFrom(
  t: TestContext,
  cluster: TestCluster,
  i: number,
  name: string,
  bytes: Buffer,
) {
  const source = join(await tempDir(t), 'source.bin');
  await writeFile(source, bytes);
  return await runCli(['create', name, '--from', source], { env: cluster.env(i) });
}

test('the copy holder’s disk fills during a create: the create succeeds, healing makes the copy elsewhere, nothing partial stays', async (t) => {
  const mount = await mkdtemp(join(tmpdir(), 'lanfs-full-'));
  await exec('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mount]);
  const full = join(mount, 'data');
  await mkdir(full);
  // Registered first, so it runs last: after the servers are stopped.
  t.after(async () => {
    await exec('umount', ['-l', mount]).catch(() => undefined);
    await rmdir(mount).catch(() => undefined);
  });
  // Server 2 is the first choice for a copy of server 1's files (fewest files, lowest id).
  const cluster = await startCluster(t, 3, {
    args: (i) => ['--replicas', '2', ...(i === 1 ? ['--data', full] : [])],
  });
  const bytes = randomBytes(5 * 1024 * 1024);
  const created = await createFrom(t, cluster, 0, 'big.bin', bytes);
  assert.equal(created.code, 0, created.stderr);
  const healed = await waitFor(
    'a copy of big.bin made on server 3',
    () => listed(cluster),
    (files) => files[0]?.replicas.includes(3) === true,
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.equal(healed[0]!.primary, 1);
  assert.deepEqual(healed[0]!.replicas, [3]);
  assert.equal(sha(await readFile(join(cluster.data(2), 'big.bin'))), sha(bytes));
  assert.deepEqual(await leftoverUploads(full), [], 'no partial upload on the full disk');
  assert.deepEqual(
    (await readdir(full)).filter((e) => e !== '.lanfs'),
    [],
    'no bytes at the name either',
  );
});

test('a copy whose bytes cannot be read sends the reader to the other holder, and is repaired', async (t) => {
  const cluster = await startCluster(t, 3, { args: ['--replicas', '2', '--scrub-rate', '0'] });
  const bytes = randomBytes(256 * 1024);
  assert.equal((await createFrom(t, cluster, 0, 'disk/bad.bin', bytes)).code, 0);
  const [file] = await listed(cluster);
  const sick = cluster.ids.indexOf(file!.replicas[0]!);
  // The holder comes back with a bad sector under the file.
  await cluster.stop(sick);
  await cluster.restart(sick, { env: { LANFS_FAULT_READ_ERROR: 'disk/bad.bin' } });
  await waitFor(
    'the restarted holder listed again',
    () => listed(cluster, sick),
    (files) => files[0]?.replicas.length === 1,
  );
  const out = join(await tempDir(t), 'got.bin');
  const got = await runCli(['download', 'disk/bad.bin', '-o', out, '-v'], {
    env: cluster.env(sick),
  });
  assert.equal(got.code, 0, got.stderr);
  assert.equal(sha(await readFile(out)), sha(bytes));
  assert.match(got.stderr, /going to server/);
  // The unreadable copy was checked at once and replaced with good bytes (the new inode reads).
  await waitFor(
    'the unreadable copy repaired',
    () => cluster.servers[sick]!.log(),
    (log) => log.includes('damaged copy repaired'),
  );
  const kept = await readdir(join(cluster.data(sick), '.lanfs', 'quarantine'));
  assert.equal(kept.length, 1);
  const again = await runCli(['download', 'disk/bad.bin', '-o', '-', '-v'], {
    env: cluster.env(sick),
  });
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /going to server/, 'served by the repaired holder itself');
});

test('a slow disk on one holder does not hold up reads served by the other', async (t) => {
  const cluster = await startCluster(t, 2, { args: ['--replicas', '2'] });
  const bytes = randomBytes(256 * 1024);
  assert.equal((await createFrom(t, cluster, 0, 'slow.bin', bytes)).code, 0);
  await waitFor(
    'two copies',
    () => listed(cluster),
    (files) => files[0]?.replicas.length === 1,
  );
  await cluster.stop(1);
  await cluster.restart(1, { env: { LANFS_FAULT_SLOW_DISK_MS: '6000' } });
  await waitFor(
    'both servers up',
    () => cluster.upIds(0),
    (up) => up.includes(2),
  );
  let slowDone = false;
  const slow = runCli(['download', 'slow.bin', '-o', '-'], { env: cluster.env(1) }).finally(
    () => (slowDone = true),
  );
  const fast = await runCli(['download', 'slow.bin', '-o', join(await tempDir(t), 'f.bin')], {
    env: cluster.env(0),
  });
  assert.equal(fast.code, 0, fast.stderr);
  assert.equal(slowDone, false, 'the read from the slow server is still waiting for its disk');
  const slowResult = await slow;
  assert.equal(slowResult.code, 0, slowResult.stderr);
});
