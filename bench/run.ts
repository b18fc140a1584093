/**
 * `npm run bench`: lanfs next to raw baselines measured in the same run, on
 * loopback (see docs/PERFORMANCE.md for what each figure means and the goals).
 *
 *   large  - 512 MiB: a plain Node TCP copy (file → socket → file, receiver in
 *            another process), then lanfs create and download of the same file.
 *   small  - 4 KiB files: lanfs create and download ops/s with 1 and 16 clients,
 *            against the same workload on a local directory with Node fs.
 *
 * Sizes can be lowered for a quick look: BENCH_LARGE_MIB=64 BENCH_SMALL_FILES=500.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { LanfsClient } from '../src/client/client.ts';
import { runClusterBench } from './cluster.ts';

const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 512) * 1024 * 1024;
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 2000);
const SMALL_BYTES = 4096;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LANFS_BIN = fileURLToPath(new URL('../bin/lanfs.cjs', import.meta.url));
const credentials = { key: 'bench-key', insecure: false, cluster: 'lanfs' };

const rows: string[][] = [];
function report(
  name: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
): void {
  const ratio = baseline ? `${(value / baseline.value).toFixed(2)}× ${baseline.name}` : '';
  rows.push([name, `${value.toFixed(unit === 'MB/s' ? 0 : 0)} ${unit}`, ratio]);
  console.log(`${name.padEnd(44)} ${`${value.toFixed(0)} ${unit}`.padStart(14)}  ${ratio}`);
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const mbps = (bytes: number, seconds: number): number => bytes / 1e6 / seconds;

async function makeLargeFile(path: string): Promise<void> {
  const handle = await open(path, 'w');
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let written = 0; written < LARGE_BYTES; written += block.length) {
    randomFillSync(block);
    await handle.write(block, 0, Math.min(block.length, LARGE_BYTES - written));
  }
  await handle.close();
}

/** file → socket → file, the receiver in a child process like a lanfs server; fsync at the end if asked. */
async function rawCopy(source: string, target: string, fsync: boolean): Promise<number> {
  const receiver = spawn(
    process.execPath,
    [
      '-e',
      `const net=require('net'),fs=require('fs');
       const s=net.createServer(sock=>{const out=fs.createWriteStream(process.argv[1]);sock.pipe(out);
         out.on('finish',()=>{if(process.argv[2]==='1'){const fd=fs.openSync(process.argv[1],'r');fs.fsyncSync(fd);fs.closeSync(fd);}
           process.stdout.write('done\\n');});});
       s.listen(0,'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'));`,
      target,
      fsync ? '1' : '0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = receiver.stdout.setEncoding('utf8');
  const nextLine = (): Promise<string> =>
    new Promise((resolve) => lines.once('data', (d: string) => resolve(d.trim())));
  const port = Number(await nextLine());
  const seconds = await timed(async () => {
    const done = nextLine();
    const socket = connect({ port, host: '127.0.0.1' });
    createReadStream(source, { highWaterMark: 1024 * 1024 }).pipe(socket);
    await done;
  });
  receiver.kill();
  await rm(target, { force: true });
  return seconds;
}

async function startServer(dataDir: string): Promise<{ address: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      LANFS_BIN,
      'server',
      '--data',
      dataDir,
      '--id',
      '1',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--key',
      credentials.key,
      '--no-multicast',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, LANFS_LOG_LEVEL: 'warn' },
    },
  );
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = / on [\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  return { address: `127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

const connectClient = (address: string): Promise<LanfsClient> =>
  LanfsClient.connect({ servers: [address], credentials });

/** Runs count jobs over `workers` concurrent workers; returns ops per second. */
async function opsPerSecond(
  count: number,
  workers: number,
  job: (i: number, worker: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const seconds = await timed(async () => {
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        while (next < count) await job(next++, worker);
      }),
    );
  });
  return count / seconds;
}

function sinkToMemory(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

async function main(): Promise<void> {
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

if (process.env.BENCH_ONLY !== 'cluster') await main();
if (process.env.BENCH_ONLY !== 'storage') await runClusterBench();
