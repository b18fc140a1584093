/**
 * The replication part of `npm run bench` (issue 4): two server processes
 * joined by --peers with 2 copies of each file, against baselines measured in
 * this run: 4 KiB creates per second with 16 clients (vs Node fs writeFile on a
 * local folder, 16 at once), and a 512 MiB create (vs a raw TCP copy).
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import {
  connectClient,
  LARGE_BYTES,
  makeLargeFile,
  mbps,
  median,
  opsPerSecond,
  rawCopy,
  report,
  ROUNDS,
  SMALL_BYTES,
  SMALL_FILES,
  startServer,
  timed,
} from './lib.ts';

const CLIENTS = 16;

export async function runReplicationBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-bench-replication-'));
  const stops: (() => void)[] = [];
  try {
    console.log(`\nlanfs replication bench: 2 servers, 2 copies of each file, loopback\n`);
    const one = await startServer(join(root, 'one'), 1, ['--replicas', '2']);
    stops.push(one.stop);
    const two = await startServer(join(root, 'two'), 2, [
      '--replicas',
      '2',
      '--peers',
      one.address,
    ]);
    stops.push(two.stop);
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, () => connectClient(one.address)),
    );
    // Wait until server 1 knows server 2 (a create then copies to it).
    for (let i = 0; i < 100; i++) {
      const status = await clients[0]!.status();
      if (status.servers.filter((s) => s.up).length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const payload = randomFillSync(Buffer.alloc(SMALL_BYTES));
    const local: number[] = [];
    const lanfs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const dir = join(root, `local-${round}`);
      await mkdir(dir);
      local.push(
        await opsPerSecond(SMALL_FILES, CLIENTS, (i) => writeFile(join(dir, `f${i}`), payload)),
      );
      lanfs.push(
        await opsPerSecond(SMALL_FILES, CLIENTS, async (i, w) => {
          await clients[w]!.create(`r${round}/f${i}`, [payload], { size: SMALL_BYTES });
        }),
      );
    }
    const localFs = { name: 'local fs', value: median(local) };
    report(`local fs writeFile 4 KiB, ${CLIENTS} at once`, localFs.value, 'ops/s');
    report(`lanfs create 4 KiB with 2 copies, ${CLIENTS} clients`, median(lanfs), 'ops/s', localFs);
    const copies = (await clients[0]!.list()).filter((r) => r.replicas.length === 1).length;
    console.log(`  (${copies} of ${ROUNDS * SMALL_FILES} files listed with their copy)`);
    for (const c of clients) c.close();

    const source = join(root, 'large.bin');
    await makeLargeFile(source);
    const raw = {
      name: 'raw copy',
      value: mbps(LARGE_BYTES, await rawCopy(source, join(root, 'raw.bin'), false)),
    };
    report('raw TCP copy file→socket→file', raw.value, 'MB/s');
    const client = await connectClient(one.address);
    const seconds = await timed(async () => {
      await client.create('large.bin', createReadStream(source, { highWaterMark: 1024 * 1024 }), {
        size: LARGE_BYTES,
      });
    });
    report(
      `lanfs create ${LARGE_BYTES / 1048576} MiB with 2 copies`,
      mbps(LARGE_BYTES, seconds),
      'MB/s',
      raw,
    );
    client.close();
  } finally {
    for (const stop of stops) stop();
    await rm(root, { recursive: true, force: true });
  }
}
