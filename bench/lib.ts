import { LanfsClient } from '../src/client/client.ts';
/** What the bench parts share: timing, baselines, starting a server process. */

import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

export const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 512) * 1024 * 1024;
export const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 2000);
export const SMALL_BYTES = 4096;
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LANFS_BIN = fileURLToPath(new URL('../bin/lanfs.cjs', import.meta.url));
export const credentials = { key: 'bench-key', insecure: false, cluster: 'lanfs' };

export function report(
  name: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
): void {
  const ratio = baseline ? `${(value / baseline.value).toFixed(2)}× ${baseline.name}` : '';
  console.log(`${name.padEnd(44)} ${`${value.toFixed(0)} ${unit}`.padStart(14)}  ${ratio}`);
}

export async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export const mbps = (bytes: number, seconds: number): number => bytes / 1e6 / seconds;

export async function makeLargeFile(path: string): Promise<void> {
  const handle = await open(path, 'w');
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let written = 0; written < LARGE_BYTES; written += block.length) {
    randomFillSync(block);
    await handle.write(block, 0, Math.min(block.length, LARGE_BYTES - written));
  }
  await handle.close();
}

/** file → socket → file, the receiver in a child process like a lanfs server; fsync at the end if asked. */
export async function rawCopy(source: string, target: string, fsync: boolean): Promise<number> {
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

export async function startServer(
  dataDir: string,
  id = 1,
  extra: string[] = [],
): Promise<{ address: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      LANFS_BIN,
      'server',
      '--data',
      dataDir,
      '--id',
      String(id),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--key',
      credentials.key,
      '--no-multicast',
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
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

export const connectClient = (address: string): Promise<LanfsClient> =>
  LanfsClient.connect({ servers: [address], credentials });

/** Runs count jobs over `workers` concurrent workers; returns ops per second. */
export async function opsPerSecond(
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
