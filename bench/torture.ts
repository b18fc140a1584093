/**
 * `npm run torture -- --seconds 120 --seed N [--servers 5] [--max-bytes 4352]` (issue 13
 * part 5): a
 * cluster of `lanfs server` processes on loopback (multicast on 127.0.0.1, a group
 * of its own), workers that create, edit, delete and read through the client
 * library and write down what happened, and a nemesis that kills -9 and restarts,
 * or freezes (SIGSTOP) and thaws (SIGCONT), one server at a time, and, when the
 * servers take faults (`--allow-faults`, issue 15), partitions a minority of them
 * from the rest (`lanfs fault cut`: the server-to-server links; the workers still
 * reach every server, as a client on a switch both halves hang off would), on a
 * schedule drawn from the seed (the same seed, the same schedule; the workers'
 * timing still varies). At the end every server is thawed and
 * restarted, the cluster left to settle, and bench/torture-history.ts checks the
 * history against what every server shows. Prints one screen; exit 1 if anything
 * was lost, came back, or was read wrong.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { LanfsClient } from '../src/client/client.ts';
import type { FileRecord } from '../src/protocol/messages.ts';
import { LanfsError } from '../src/shared/errors.ts';
import { checkHistory, type Image, type Op, type OpKind, type Verdict } from './torture-history.ts';

const LANFS_BIN = fileURLToPath(new URL('../bin/lanfs.cjs', import.meta.url));
const KEY = 'torture-key';
const credentials = { key: KEY, insecure: false, cluster: 'lanfs' };
/** Files of 256 to this many bytes by default: all small enough for the journal. */
const DEFAULT_MAX_BYTES = 4352;

export interface TortureOptions {
  seconds: number;
  seed: number;
  servers: number;
  workers?: number;
  /** Names the workers use (few, so they collide). */
  names?: number;
  /**
   * The largest file written (default 4352 bytes: all held in the journal). Past
   * 64 KiB a file goes to a temp file and past the page cache, and from 4 MiB it is
   * also read past it.
   */
  maxBytes?: number;
  /** false: no faults at all (to tell a fault's effect from a bug without one). */
  nemesis?: boolean;
  /** Keep every server's log (JSON lines) in DIR/sN.log, for a closer look at a run. */
  logDir?: string;
  /** Partitions too; default: when the servers take faults (--allow-faults). */
  partitions?: boolean;
  log?: (line: string) => void;
}

export interface TortureReport {
  seed: number;
  seconds: number;
  servers: number;
  ops: Record<OpKind, { ok: number; fail: number; info: number }>;
  faults: string[];
  settledMs: number;
  verdict: Verdict;
  files: number;
  /** Files below their copies after settling (on any server). */
  underReplicated: string[];
  /** Every operation, for a closer look at what the verdict names. */
  history: Op[];
}

/** mulberry32: a small seeded generator, enough for a fault schedule. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The nemesis' plan: at which second which server gets which fault, for how long. */
export function faultSchedule(
  seed: number,
  seconds: number,
  servers: number,
  partitions = false,
): { at: number; server: number; fault: Fault; forMs: number }[] {
  const random = seeded(seed);
  const plan = [];
  // Faults stop 20% before the end, so the last writes meet a whole cluster.
  for (let at = 2000 + random() * 2000; at < seconds * 800; at += 3000 + random() * 3000) {
    const server = Math.floor(random() * servers);
    const pick = random();
    const fault: Fault = partitions
      ? pick < 1 / 3
        ? 'kill'
        : pick < 2 / 3
          ? 'freeze'
          : 'partition'
      : pick < 0.5
        ? 'kill'
        : 'freeze';
    // A partition lasts longer than a peer timeout, so both sides see the other down.
    const forMs = Math.round((fault === 'partition' ? 3000 : 1000) + random() * 2500);
    plan.push({ at: Math.round(at), server, fault, forMs });
  }
  return plan;
}

export type Fault = 'kill' | 'freeze' | 'partition';

/** The minority a partition starting at `server` cuts off: it and the next ones, at most half. */
export function minority(server: number, servers: number, seed: number): number[] {
  const size = 1 + (Math.abs(seed + server) % Math.max(1, Math.floor((servers - 1) / 2)));
  return Array.from({ length: size }, (_, i) => (server + i) % servers);
}

/** What the issue-15 fault request needs of the client (absent before it). */
interface FaultClient {
  fault?: (
    serverId: number | undefined,
    body: { action: string; peer?: number },
  ) => Promise<unknown>;
}

async function faultOn(node: Node, body: { action: string; peer?: number }): Promise<void> {
  const client = await LanfsClient.connect({ servers: [`127.0.0.1:${node.port}`], credentials });
  try {
    const faulty = client as unknown as FaultClient;
    if (!faulty.fault) throw new Error('this client library has no fault request (issue 15)');
    await faulty.fault(undefined, body);
  } finally {
    client.close();
  }
}

/** Whether `lanfs server` takes --allow-faults here (issue 15's fault requests). */
async function serversTakeFaults(): Promise<boolean> {
  return await new Promise((resolve) => {
    const child = spawn(process.execPath, [LANFS_BIN, 'server', '--help'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('close', () => resolve(out.includes('--allow-faults')));
    child.once('error', () => resolve(false));
  });
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

interface Node {
  id: number;
  data: string;
  port: number;
  child: ChildProcess | undefined;
  frozen: boolean;
}

function startNode(
  node: Node,
  group: string,
  first: boolean,
  logDir?: string,
  faults = false,
): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      LANFS_BIN,
      'server',
      '--data',
      node.data,
      ...(first ? ['--id', String(node.id)] : []),
      '--host',
      '127.0.0.1',
      '--port',
      String(node.port),
      '--interface',
      '127.0.0.1',
      '--group',
      group,
      '--key',
      KEY,
      '--replicas',
      '2',
      '--heal-after',
      '5000',
      '--peer-timeout',
      '1500',
      '--scrub-rate',
      '0',
      ...(faults ? ['--allow-faults'] : []),
    ],
    {
      stdio: ['ignore', 'pipe', logDir ? 'pipe' : 'ignore'],
      // Kept logs carry every catalog change (debug), to follow a file through a trace.
      env: {
        ...process.env,
        LANFS_LOG_FORMAT: 'json',
        ...(logDir ? { LANFS_LOG_LEVEL: 'debug' } : {}),
      },
    },
  );
  node.child = child;
  node.frozen = false;
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server ${node.id} did not start`)), 30_000);
    if (logDir) {
      const file = createWriteStream(join(logDir, `s${node.id}.log`), { flags: 'a' });
      // Two streams into one file: neither ends it (the process's exit closes it).
      child.stdout?.pipe(file, { end: false });
      child.stderr?.pipe(file, { end: false });
      child.once('close', () => file.end());
    }
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/ on [\d.]+:\d+/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${node.id} exited with ${code}`));
    });
  });
}

async function killNode(node: Node): Promise<void> {
  const child = node.child;
  node.child = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

class Sink extends Writable {
  readonly #hash = createHash('sha256');
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    this.#hash.update(chunk);
    done();
  }
  digest(): string {
    return this.#hash.digest('hex');
  }
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A refusal (the operation had no effect), as opposed to no answer (it may have). */
function refused(err: unknown): boolean {
  return (
    err instanceof LanfsError &&
    [
      'LANFS_ERR_NOT_FOUND',
      'LANFS_ERR_NAME_EXISTS',
      'LANFS_ERR_EDIT_CONFLICT',
      'LANFS_ERR_UNAVAILABLE',
      'LANFS_ERR_INVALID_NAME',
    ].includes(err.code)
  );
}

/** One worker operation; fills in what it wrote or read, throws what the client threw. */
async function runOp(
  client: LanfsClient,
  op: Op,
  random: () => number,
  maxBytes: number,
): Promise<void> {
  const { kind, name } = op;
  if (kind === 'delete') return await client.delete(name);
  if (kind === 'read') {
    const sink = new Sink();
    const record = await client.download(name, sink);
    op.sha256 = sink.digest();
    op.version = record.version;
    return;
  }
  const bytes = randomBytes(256 + Math.floor(random() * (maxBytes - 256)));
  op.sha256 = sha(bytes);
  let record: FileRecord;
  if (kind === 'create') record = await client.create(name, [bytes]);
  else {
    const current = (await client.list()).find((f) => f.name === name);
    if (!current) throw new LanfsError('LANFS_ERR_NOT_FOUND', 'not listed');
    record = await client.edit(name, current.version, [bytes]);
  }
  op.version = record.version;
}

/** What one server lists (name → sha256), and what it says is below its copies or down. */
async function imageOf(node: Node): Promise<{ image: Image; underReplicated: string[] }> {
  const client = await LanfsClient.connect({ servers: [`127.0.0.1:${node.port}`], credentials });
  try {
    const files = await client.list();
    const status = await client.status();
    const underReplicated = status.underReplicated.map((n) => `${n} (server ${node.id})`);
    if (status.servers.some((s) => !s.up))
      underReplicated.push(`(server ${node.id} sees one down)`);
    return { image: new Map(files.map((f) => [f.name, f.sha256])), underReplicated };
  } finally {
    client.close();
  }
}

export async function runTorture(options: TortureOptions): Promise<TortureReport> {
  const log = options.log ?? (() => undefined);
  // The run's clock starts once the servers are up and linked (below): on a loaded
  // machine their start alone took a 10-second run's whole time, and no worker ran.
  let t0 = performance.now();
  const now = (): number => Math.round(performance.now() - t0);
  const names = Array.from({ length: options.names ?? 8 }, (_, i) => `t/f${i}`);
  const root = await mkdtemp(join(tmpdir(), 'lanfs-torture-'));
  const r = (n: number): number => Math.floor(Math.random() * n);
  const group = `239.255.${1 + r(250)}.${1 + r(250)}:${20000 + r(40000)}`;
  const nodes: Node[] = [];
  for (let i = 0; i < options.servers; i++)
    nodes.push({
      id: i + 1,
      data: join(root, `s${i + 1}`),
      port: await freePort(),
      child: undefined,
      frozen: false,
    });
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  const ops: Op[] = [];
  const faults: string[] = [];
  const partitions = options.partitions ?? (await serversTakeFaults());
  /** When partitions were in force (from the first cut to the heal), for the checker. */
  const cuts: { from: number; to: number }[] = [];
  try {
    await Promise.all(nodes.map((n) => startNode(n, group, true, options.logDir, partitions)));
    await new Promise((resolve) => setTimeout(resolve, 2500)); // the mesh forms
    t0 = performance.now();
    const deadline = t0 + options.seconds * 1000;

    const worker = async (w: number): Promise<void> => {
      const random = seeded(options.seed * 1000 + w);
      const client = await LanfsClient.connect({
        servers: [...addresses.slice(w % addresses.length), ...addresses],
        credentials,
      });
      try {
        while (performance.now() < deadline) {
          const name = names[Math.floor(random() * names.length)]!;
          const pick = random();
          const kind: OpKind =
            pick < 0.3 ? 'create' : pick < 0.55 ? 'edit' : pick < 0.7 ? 'delete' : 'read';
          const op: Op = { worker: w, kind, name, start: now(), end: 0, outcome: 'ok' };
          try {
            await runOp(client, op, random, options.maxBytes ?? DEFAULT_MAX_BYTES);
          } catch (err) {
            op.outcome = refused(err) ? 'fail' : 'info';
            op.error = err instanceof Error ? err.message : String(err);
          }
          op.end = now();
          ops.push(op);
        }
      } finally {
        client.close();
      }
    };

    const nemesis = async (): Promise<void> => {
      if (options.nemesis === false) return;
      const plan = faultSchedule(options.seed, options.seconds, options.servers, partitions);
      for (const step of plan) {
        const wait = step.at - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (performance.now() > deadline) return;
        const node = nodes[step.server]!;
        if (step.fault === 'partition') {
          const side = minority(step.server, nodes.length, options.seed).map((i) => nodes[i]!);
          const rest = nodes.filter((n) => !side.includes(n));
          faults.push(
            `${(step.at / 1000).toFixed(1)}s partition servers ${side.map((n) => n.id).join(',')} | ${rest.map((n) => n.id).join(',')} ${step.forMs} ms`,
          );
          log(faults.at(-1)!);
          const from = now();
          // Each side refuses the other's links (a cut on one side would leave the other dialing).
          for (const a of side)
            for (const b of rest) {
              await faultOn(a, { action: 'cut', peer: b.id });
              await faultOn(b, { action: 'cut', peer: a.id });
            }
          await new Promise((resolve) => setTimeout(resolve, step.forMs));
          for (const n of nodes) await faultOn(n, { action: 'heal' });
          cuts.push({ from, to: now() });
          continue;
        }
        faults.push(
          `${(step.at / 1000).toFixed(1)}s ${step.fault} server ${node.id} ${step.forMs} ms`,
        );
        log(faults.at(-1)!);
        if (step.fault === 'kill') {
          await killNode(node);
          await new Promise((resolve) => setTimeout(resolve, step.forMs));
          await startNode(node, group, false, options.logDir, partitions);
        } else {
          node.frozen = true;
          node.child?.kill('SIGSTOP');
          await new Promise((resolve) => setTimeout(resolve, step.forMs));
          node.child?.kill('SIGCONT');
          node.frozen = false;
        }
      }
    };

    const workers = Array.from({ length: options.workers ?? 4 }, (_, w) => worker(w));
    await Promise.all([nemesis(), ...workers]);

    // Heal everything, then wait for quiet: every server shows the same image, every file
    // at its copies.
    for (const node of nodes) {
      if (node.frozen) node.child?.kill('SIGCONT');
      if (!node.child) await startNode(node, group, false, options.logDir, partitions);
    }
    const settleStart = performance.now();
    let images = new Map<number, Image>();
    let underReplicated: string[] = [];
    for (let round = 0; round < 120; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      try {
        images = new Map();
        underReplicated = [];
        for (const node of nodes) {
          const seen = await imageOf(node);
          images.set(node.id, seen.image);
          underReplicated.push(...seen.underReplicated);
        }
      } catch {
        continue;
      }
      const same =
        new Set([...images.values()].map((i) => JSON.stringify([...i].sort()))).size === 1;
      if (same && underReplicated.length === 0) break;
    }
    const verdict = checkHistory(ops, images, names, cuts);
    const count = (kind: OpKind) => ({
      ok: ops.filter((o) => o.kind === kind && o.outcome === 'ok').length,
      fail: ops.filter((o) => o.kind === kind && o.outcome === 'fail').length,
      info: ops.filter((o) => o.kind === kind && o.outcome === 'info').length,
    });
    return {
      seed: options.seed,
      seconds: options.seconds,
      servers: options.servers,
      ops: {
        create: count('create'),
        edit: count('edit'),
        delete: count('delete'),
        read: count('read'),
      },
      faults,
      settledMs: Math.round(performance.now() - settleStart),
      verdict,
      files: [...images.values()][0]?.size ?? 0,
      underReplicated,
      history: ops,
    };
  } finally {
    for (const node of nodes) {
      node.child?.kill('SIGCONT');
      await killNode(node);
    }
    await rm(root, { recursive: true, force: true });
  }
}

export function formatReport(report: TortureReport): string {
  const v = report.verdict;
  const line = (k: OpKind): string => {
    const c = report.ops[k];
    return `  ${k.padEnd(7)} ${String(c.ok).padStart(6)} ok ${String(c.fail).padStart(5)} refused ${String(c.info).padStart(4)} unknown`;
  };
  const problems = [...v.lost, ...v.resurrected, ...v.wrongReads, ...v.diverged, ...v.invented];
  return [
    `lanfs torture: seed ${report.seed}, ${report.seconds} s, ${report.servers} servers`,
    `operations:`,
    line('create'),
    line('edit'),
    line('delete'),
    line('read'),
    `faults: ${report.faults.length} (${report.faults.filter((f) => f.includes('kill')).length} kill -9, ${report.faults.filter((f) => f.includes('freeze')).length} SIGSTOP, ${report.faults.filter((f) => f.includes('partition')).length} partitions)`,
    `settled in ${(report.settledMs / 1000).toFixed(1)} s; ${report.files} files; below their copies: ${report.underReplicated.length}`,
    `lost ${v.lost.length}, resurrected ${v.resurrected.length}, wrong reads ${v.wrongReads.length}, servers differing ${v.diverged.length}, invented ${v.invented.length}`,
    ...problems.slice(0, 10).map((p) => `  ! ${p}`),
    ...report.underReplicated.slice(0, 5).map((p) => `  ! below copies: ${p}`),
    problems.length === 0 && report.underReplicated.length === 0 ? 'OK' : 'FAILED',
  ].join('\n');
}

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --log-dir DIR keeps every server's log there (DIR/sN.log), made if missing.
  const logDir = process.argv.includes('--log-dir')
    ? process.argv[process.argv.indexOf('--log-dir') + 1]
    : undefined;
  if (logDir) await mkdir(logDir, { recursive: true });
  const report = await runTorture({
    seconds: argument('seconds', 120),
    seed: argument('seed', Date.now() % 100_000),
    servers: argument('servers', 5),
    maxBytes: argument('max-bytes', DEFAULT_MAX_BYTES),
    log: (line) => process.stderr.write(`${line}\n`),
    ...(logDir ? { logDir } : {}),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  // Every operation and fault beside the server logs, to follow a verdict's name back.
  if (logDir)
    await writeFile(
      join(logDir, 'history.json'),
      JSON.stringify({ faults: report.faults, history: report.history }),
    );
  process.exitCode = formatReport(report).endsWith('OK') ? 0 : 1;
}
