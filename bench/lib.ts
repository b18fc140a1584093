/** What the bench parts share: timing, baselines, starting a server process. */
import { LanfsClient } from '../src/client/client.ts';

import { type ChildProcess, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 512) * 1024 * 1024;
export const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 2000);
export const SMALL_BYTES = 4096;
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const LANFS_BIN = fileURLToPath(new URL('../bin/lanfs.cjs', import.meta.url));
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

/** The median of each list (NaN for an empty one: a reference that did not run). */
export function medians<K extends string>(figures: Record<K, number[]>): Record<K, number> {
  return Object.fromEntries(
    Object.entries<number[]>(figures).map(([k, v]) => [k, v.length ? median(v) : NaN]),
  ) as Record<K, number>;
}

/**
 * lanfs over its reference as the median of the rounds' ratios (NaN without the
 * reference): the two took turns within a round, in one state of the machine, and
 * that pairing is what a ratio of two medians (of different rounds) would lose.
 */
export function pairedRatio(lanfs: number[], reference: number[]): number {
  return reference.length ? median(lanfs.map((x, r) => x / reference[r]!)) : NaN;
}

/** Each round's ratio, for the line printed under a summary ('—' without the reference). */
export function roundRatios(lanfs: number[], reference: number[]): string {
  return reference.length ? lanfs.map((x, r) => (x / reference[r]!).toFixed(2)).join(', ') : '—';
}

/** A program on the PATH, or in the sbin folders a root-less PATH leaves out. */
export function findProgram(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);
  for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

export async function makeLargeFile(path: string): Promise<void> {
  const handle = await open(path, 'w');
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let written = 0; written < LARGE_BYTES; written += block.length) {
    randomFillSync(block);
    await handle.write(block, 0, Math.min(block.length, LARGE_BYTES - written));
  }
  await handle.close();
}

/** Every child process the bench starts, killed when the bench exits (also on a crash). */
const children = new Map<ChildProcess, NodeJS.Signals>();
/** Temp folders removed when the bench exits, also when interrupted (see tempRoot). */
const tempRoots = new Set<string>();
/** What a reference started outside the bench's children (mounts, namespaces) leaves to undo. */
const undoAtExit = new Set<() => void>();
process.once('exit', () => {
  for (const [child, signal] of children) if (child.exitCode === null) child.kill(signal);
  // Before the temp folders: a mount inside one must be gone before it is removed.
  for (const undo of undoAtExit) {
    try {
      undo();
    } catch {
      // Each undo is best effort at exit; the others still run.
    }
  }
  for (const root of tempRoots) {
    // Never walk into a mount an undo could not remove (a dead FUSE mount fails every call).
    if (mountedUnder(root)) {
      console.error(`bench: ${root} still has a mount inside; unmount it, then remove the folder.`);
      continue;
    }
    try {
      rmSync(root, { recursive: true, force: true });
    } catch (err) {
      console.error(`bench: could not remove ${root}: ${(err as Error).message}`);
    }
  }
});

/** Whether something is mounted under folder (Linux; false where /proc is not there). */
function mountedUnder(folder: string): boolean {
  try {
    // Field 5 of each line is the mount point (spaces in it are escaped as \040).
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[4]?.startsWith(`${folder}/`));
  } catch {
    return false;
  }
}

/** Runs undo (synchronous) when the bench exits, unless the returned function is called first. */
export function atExit(undo: () => void): () => void {
  undoAtExit.add(undo);
  return () => undoAtExit.delete(undo);
}

/** A new temp folder, removed at the latest when the bench exits. */
export async function tempRoot(
  name: string,
): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `lanfs-bench-${name}-`));
  tempRoots.add(path);
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      tempRoots.delete(path);
    },
  };
}

/** Kills child with signal (nginx wants SIGTERM: SIGKILL would orphan its workers) if the bench exits first. */
export function track<T extends ChildProcess>(child: T, signal: NodeJS.Signals = 'SIGKILL'): T {
  children.set(child, signal);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Waits for a child to exit, up to ms; then kills it with SIGKILL. */
export async function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * file → socket → file, the receiver in a child process like a lanfs server; fsync
 * at the end if asked. The copy is removed after, unless keepTarget (the caller
 * removes it then).
 */
export async function rawCopy(
  source: string,
  target: string,
  fsync: boolean,
  keepTarget = false,
): Promise<number> {
  const receiver = track(
    spawn(
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
    ),
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
  if (!keepTarget) await rm(target, { force: true });
  return seconds;
}

export interface BenchServer {
  address: string;
  /** host:port of the HTTP side, when started with --http-port. */
  httpAddress: string | undefined;
  /** kill -9, at once. */
  stop: () => void;
  /** SIGTERM and wait for the exit (a --cpu-prof profile is written then), SIGKILL after 10 s. */
  shutdown: () => Promise<void>;
}

/**
 * A `lanfs server` process (bin/lanfs.cjs, the compiled dist/). With
 * BENCH_PROFILE_DIR set, every server runs with --cpu-prof and writes its
 * profile to BENCH_PROFILE_DIR/server-ID/ when shut down (not when stopped with kill -9).
 */
export async function startServer(
  dataDir: string,
  id = 1,
  extra: string[] = [],
): Promise<BenchServer> {
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const child = track(
    spawn(
      process.execPath,
      [
        // Node 20 refuses --cpu-prof in NODE_OPTIONS: it goes on the command line.
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, `server-${id}`)}`] : []),
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
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LANFS_LOG_LEVEL: 'warn' },
      },
    ),
  );
  const wantsHttp = extra.includes('--http-port');
  let errors = '';
  child.stderr.on('data', (c: Buffer) => {
    if (errors.length < 4000) errors += c.toString();
  });
  const { port, http } = await new Promise<{ port: number; http: string | undefined }>(
    (resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`bench: server ${id} did not start within 30 s: ${errors}`)),
        30_000,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`bench: server ${id} exited (${code}) before listening: ${errors}`));
      });
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = / on [\d.]+:(\d+)/.exec(out);
        const h = /Dashboard: http:\/\/([\d.]+:\d+)\//.exec(out);
        if (m && (!wantsHttp || h)) {
          clearTimeout(timer);
          resolve({ port: Number(m[1]), http: h?.[1] });
        }
      });
    },
  );
  child.stdout.resume();
  return {
    address: `127.0.0.1:${port}`,
    httpAddress: http,
    stop: () => child.kill('SIGKILL'),
    shutdown: async () => {
      child.kill('SIGTERM');
      await waitExit(child, 10_000);
    },
  };
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
