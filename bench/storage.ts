/**
 * The storage part of `npm run bench` (issue 2): one server, large and small
 * files, next to a raw TCP copy and Node fs on a local folder in the same run.
 */

import { randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
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

function sinkToMemory(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

export async function runStorageBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-bench-'));
  try {
    console.log(
      `lanfs bench: ${LARGE_BYTES / 1048576} MiB large file, ${SMALL_FILES} × 4 KiB small files, loopback\n`,
    );

    // Large file.
    const source = join(root, 'large.bin');
    await makeLargeFile(source);
    const rawSeconds = await rawCopy(source, join(root, 'raw-copy.bin'), false);
    const raw = { name: 'raw copy', value: mbps(LARGE_BYTES, rawSeconds) };
    report('raw TCP copy file→socket→file', raw.value, 'MB/s');
    const rawSynced = {
      name: 'raw+fsync',
      value: mbps(LARGE_BYTES, await rawCopy(source, join(root, 'raw-copy.bin'), true)),
    };
    report('raw TCP copy, fsync at the end', rawSynced.value, 'MB/s');

    const server = await startServer(join(root, 'server-large'));
    const client = await connectClient(server.address);
    const createSeconds = await timed(async () => {
      await client.create('large.bin', createReadStream(source, { highWaterMark: 1024 * 1024 }), {
        size: LARGE_BYTES,
      });
    });
    report(
      `lanfs create ${LARGE_BYTES / 1048576} MiB`,
      mbps(LARGE_BYTES, createSeconds),
      'MB/s',
      raw,
    );
    const downloadTarget = join(root, 'downloaded.bin');
    const downloadSeconds = await timed(async () => {
      const sink = createWriteStream(downloadTarget, { highWaterMark: 8 * 1024 * 1024 });
      await client.download('large.bin', sink);
      sink.end();
      await finished(sink);
    });
    report(
      `lanfs download ${LARGE_BYTES / 1048576} MiB`,
      mbps(LARGE_BYTES, downloadSeconds),
      'MB/s',
      raw,
    );
    client.close();
    server.stop();
    await rm(join(root, 'server-large'), { recursive: true, force: true });
    await rm(downloadTarget, { force: true });
    console.log(
      `  (vs raw+fsync: create ${(mbps(LARGE_BYTES, createSeconds) / rawSynced.value).toFixed(2)}×)\n`,
    );

    // Small files: each figure is the median of ROUNDS runs, lanfs and its baseline
    // taking turns, because this machine's disk speed drifts from second to second.
    const payload = randomFillSync(Buffer.alloc(SMALL_BYTES));
    for (const workers of [1, 16]) {
      const server = await startServer(join(root, `server-small-${workers}`));
      const clients = await Promise.all(
        Array.from({ length: workers }, () => connectClient(server.address)),
      );
      const figures = {
        localWrite: [] as number[],
        localDurable: [] as number[],
        lanfsCreate: [] as number[],
        localRead: [] as number[],
        lanfsDownload: [] as number[],
      };
      for (let round = 0; round < ROUNDS; round++) {
        const local = join(root, `local-${workers}-${round}`);
        await mkdir(local);
        figures.localWrite.push(
          await opsPerSecond(SMALL_FILES, workers, (i) => writeFile(join(local, `f${i}`), payload)),
        );
        figures.lanfsCreate.push(
          await opsPerSecond(SMALL_FILES, workers, async (i, w) => {
            await clients[w]!.create(`r${round}/f${i}`, [payload], { size: SMALL_BYTES });
          }),
        );
        figures.localDurable.push(
          await opsPerSecond(SMALL_FILES, workers, async (i) => {
            const handle = await open(join(local, `t${i}`), 'w');
            await handle.write(payload);
            await handle.sync();
            await handle.close();
            await rename(join(local, `t${i}`), join(local, `d${i}`));
          }),
        );
        figures.localRead.push(
          await opsPerSecond(
            SMALL_FILES,
            workers,
            async (i) => void (await readFile(join(local, `f${i}`))),
          ),
        );
        figures.lanfsDownload.push(
          await opsPerSecond(SMALL_FILES, workers, async (i, w) => {
            await clients[w]!.download(`r${round}/f${i}`, sinkToMemory());
          }),
        );
      }
      const localWrite = { name: 'local fs', value: median(figures.localWrite) };
      const localRead = { name: 'local fs', value: median(figures.localRead) };
      const plural = workers > 1 ? 's' : '';
      report(`local fs writeFile 4 KiB, ${workers} at once`, localWrite.value, 'ops/s');
      report(
        `local fs write+fsync+rename 4 KiB, ${workers} at once`,
        median(figures.localDurable),
        'ops/s',
      );
      report(
        `lanfs create 4 KiB, ${workers} client${plural}`,
        median(figures.lanfsCreate),
        'ops/s',
        localWrite,
      );
      report(`local fs readFile 4 KiB, ${workers} at once`, localRead.value, 'ops/s');
      report(
        `lanfs download 4 KiB, ${workers} client${plural}`,
        median(figures.lanfsDownload),
        'ops/s',
        localRead,
      );
      console.log('');
      for (const c of clients) c.close();
      server.stop();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
