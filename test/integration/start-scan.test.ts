/**
 * A server started on a folder of many files it has never seen (issue 16 part 3):
 * it joins the running cluster first and its start-up scan commits what it finds in
 * batches, so the others list the files while the scan still runs, not after it;
 * and a restart trusts its index (hashes nothing again).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { LanfsServer } from '../../src/server/server.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const FILES = 20_000;
const FOLDERS = 20;
const credentials = { key: TEST_KEY, insecure: false, cluster: 'lanfs' };

/** FILES small files under scan/, FOLDERS folders of them, written a folder at a time. */
async function seedFolder(root: string): Promise<void> {
  const perFolder = FILES / FOLDERS;
  for (let f = 0; f < FOLDERS; f++) {
    const folder = join(root, 'scan', `d${f}`);
    await mkdir(folder, { recursive: true });
    await Promise.all(
      Array.from({ length: perFolder }, (_, i) =>
        writeFile(join(folder, `f${i}.txt`), `file ${f}/${i}\n`),
      ),
    );
  }
}

test('start scan - a server started on a folder of 20,000 files joins first: the others list its files while it scans; a restart hashes none again', async (t) => {
  const cluster = await startCluster(t, 2, { args: ['--replicas', '1'] });
  const data = await tempDir(t);
  await seedFolder(data);

  const serverOptions = {
    dataDir: data,
    host: '127.0.0.1',
    port: 0,
    credentials,
    replicas: 1,
    peers: cluster.servers.map((s) => s.address),
    logger: silentLogger(),
  };
  // Every read of this server's disk waits 1 ms (the fault injector of the reliability
  // tests), so its scan of 20,000 files lasts seconds on any machine: long enough to
  // look at the others while it runs.
  process.env.LANFS_FAULT_SLOW_DISK_MS = '1';
  onCleanup(t, () => delete process.env.LANFS_FAULT_SLOW_DISK_MS);
  const fresh = new LanfsServer({ ...serverOptions, serverId: 3 });
  onCleanup(t, () => fresh.stop());
  let started = false;
  const starting = fresh.start().then(() => (started = true));
  starting.catch(() => undefined);

  const clients = await Promise.all(
    cluster.servers.map((s) => LanfsClient.connect({ servers: [s.address], credentials })),
  );
  for (const client of clients) onCleanup(t, () => client.close());
  const listed = async (client: LanfsClient): Promise<number> =>
    (await client.list({ prefix: 'scan/' })).length;

  // Server 1 lists some of the new files before server 3 has finished its start.
  const early = await waitFor(
    'server 1 to list some of the files server 3 is scanning',
    async () => ({ listed: await listed(clients[0]!), started }),
    (seen) => seen.listed > 0 || seen.started,
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  assert.equal(
    early.started,
    false,
    'the files reached the others only after the whole scan (they must stream)',
  );
  assert.ok(early.listed < FILES, `${early.listed} files listed while the scan ran`);
  fresh.catalog.directory.faults.slowMs = 0; // seen: the rest of the scan at full speed

  await starting;
  delete process.env.LANFS_FAULT_SLOW_DISK_MS;
  assert.equal(fresh.scanReport?.hashed, FILES);
  assert.equal(fresh.scanReport?.adopted, FILES);
  for (const [i, client] of clients.entries())
    await waitFor(
      `server ${i + 1} to list all ${FILES} files`,
      () => listed(client),
      (n) => n === FILES,
      { timeoutMs: 30_000, intervalMs: 250 },
    );

  // A restart: every file's size, inode and mtime match its record, so none is hashed.
  await fresh.stop();
  const restarted = new LanfsServer(serverOptions);
  onCleanup(t, () => restarted.stop());
  await restarted.start();
  assert.equal(restarted.id, 3);
  assert.deepEqual(
    { files: restarted.scanReport?.files, hashed: restarted.scanReport?.hashed },
    { files: FILES, hashed: 0 },
  );
});
