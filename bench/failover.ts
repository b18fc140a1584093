/**
 * The failover part of `npm run bench` (issue 5): two server processes holding
 * a file; a client downloads it from server 1, which is killed (kill -9) after
 * the first bytes. Figure: time from the kill to the download finished, minus
 * the time the same download takes with nothing killed (median of RUNS).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { LanfsClient } from '../src/client/client.ts';
import { credentials, median, startServer } from './lib.ts';

const RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 5);
const SIZE = 16 * 1024 * 1024;

async function download(client: LanfsClient, onFirstBytes: () => void): Promise<void> {
  let first = true;
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      if (first) {
        first = false;
        onFirstBytes();
      }
      callback();
    },
  });
  await client.download('file.bin', sink);
}

export async function runFailoverBench(): Promise<void> {
  console.log(
    '\nlanfs failover bench: 2 servers, a 16 MiB download, server 1 killed after the first bytes\n',
  );
  const overheads: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const root = await mkdtemp(join(tmpdir(), 'lanfs-bench-failover-'));
    const one = await startServer(join(root, 'one'), 1);
    const two = await startServer(join(root, 'two'), 2, ['--peers', one.address]);
    try {
      const client = await LanfsClient.connect({
        servers: [one.address, two.address],
        credentials,
      });
      for (
        let i = 0;
        i < 100 && (await client.status()).servers.filter((s) => s.up).length < 2;
        i++
      )
        await new Promise((r) => setTimeout(r, 50));
      await client.create('file.bin', [Buffer.alloc(SIZE, 7)], { size: SIZE });
      const calm = performance.now();
      await download(client, () => undefined);
      const plain = performance.now() - calm;
      let killedAt = 0;
      await download(client, () => {
        one.stop();
        killedAt = performance.now();
      });
      const recovered = performance.now() - killedAt;
      overheads.push(recovered - plain);
      client.close();
    } finally {
      one.stop();
      two.stop();
      await rm(root, { recursive: true, force: true });
    }
  }
  const value = median(overheads);
  console.log(
    `${'kill → download finished, beyond the transfer itself (median)'.padEnd(62)} ${value.toFixed(0).padStart(6)} ms  (runs: ${overheads.map((o) => o.toFixed(0)).join(', ')}; goal < 1000 ms)`,
  );
}
