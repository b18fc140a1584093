/**
 * Issue 16, the light form of `npm run bench -- scale`: 20 real server processes
 * on loopback that know nothing of each other find each other by multicast alone,
 * every one of them reaches the full image of RECORDS records (a twentieth adopted
 * by each from its folder at start), the cluster is then quiet — each server's TCP
 * bytes in a quiet window stay under what its heartbeats alone may carry, whatever
 * the number of records — and every server stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  heartbeatFrameBytes,
  quietWindow,
  seedFolders,
  watchFullImage,
} from '../../bench/scale.ts';
import { HEARTBEAT_INTERVAL_MS } from '../../src/cluster/peer-mesh.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { cleanEnv, LANFS_BIN, uniqueGroup } from '../harness/cli.ts';
import { TEST_KEY } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';

const SERVERS = 20;
/** The light form; LANFS_SCALE_RECORDS sets another size. */
const RECORDS = Number(process.env.LANFS_SCALE_RECORDS ?? 100_000);
/** Servers started at once (see below). */
const STARTS_AT_ONCE = 10;
/**
 * First scans, starts and full image at most, from the end of the seeding (the disk's
 * share, 3 to 60 s here depending on what else writes: not the cluster's figure).
 */
const IMAGE_WITHIN_MS = 130_000;
/** The seeding at most. */
const SEEDING_WITHIN_MS = 90_000;
const QUIET_SECONDS = 5;
/**
 * Silence after which a peer is down, as --peer-timeout. SPEC's 2 s is for servers on
 * machines of their own; 20 of them joining 100,000 records on 2 shared cores stand
 * still longer (a process gets a tenth of a core), and then drop and redo links until
 * the cluster never settles: with 2 s, after 300 s 5 to 17 of 20 members were seen up
 * (docs/PERFORMANCE.md, Scale, 2026-11-30). 10 s, as the listing test.
 */
const PEER_TIMEOUT_MS = 10_000;
/**
 * How long a SIGTERM'd server may take to exit before it is killed: 20 of them stop at
 * once, each with a final checkpoint (snapshot, fsyncs), beside three other test files on
 * 2 cores; one took more than 10 s in a CI run.
 */
const STOP_WITHIN_MS = 30_000;

interface ScaleProcess {
  id: number;
  pid: number;
  address: string;
  /** Log lines saying a peer was marked silent, and that this server stood still. */
  silentPeers: () => number;
  stoodStill: () => number;
  /** SIGTERM; resolves with the exit code, or the signal that ended it (SIGKILL after STOP_WITHIN_MS). */
  stop: () => Promise<number | NodeJS.Signals | null>;
  kill9: () => Promise<void>;
}

/** `lanfs server` on loopback, on multicast alone, --replicas 1; resolved once it serves. */
async function startScaleProcess(options: {
  data: string;
  id: number;
  group: string;
  timeoutMs: number;
}): Promise<ScaleProcess> {
  const args = [
    ...[LANFS_BIN, 'server', '--data', options.data, '--id', String(options.id)],
    ...['--key', TEST_KEY, '--host', '127.0.0.1', '--port', '0', '--replicas', '1'],
    ...['--interface', '127.0.0.1', '--group', options.group],
    ...['--peer-timeout', String(PEER_TIMEOUT_MS)],
  ];
  const child = spawn(process.execPath, args, {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The exit code, or the name of the signal that ended the process.
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  let log = '';
  let silent = 0;
  let stood = 0;
  child.stderr.on('data', (c: Buffer) => {
    const text = c.toString();
    if (log.length < 4000) log += text;
    silent += text.split('"msg":"peer silent"').length - 1;
    stood += text.split('this server stood still').length - 1;
  });
  const kill9 = async (): Promise<void> => {
    if (running()) child.kill('SIGKILL');
    await exited;
  };
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      reject(
        new Error(`server ${options.id} did not serve within ${options.timeoutMs} ms: ${log}`),
      );
      void kill9();
    }, options.timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server ${options.id} exited (${code}) before serving: ${log}`));
    });
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const match = / on ([\d.]+:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return {
    id: options.id,
    pid: child.pid!,
    address,
    silentPeers: () => silent,
    stoodStill: () => stood,
    stop: async () => {
      if (running()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_WITHIN_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill9,
  };
}

/** CPU seconds (user + system) the processes have used so far (/proc/PID/stat, 100 ticks a second). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Exited: its figure is lost, and the diagnostic says less than was used.
    }
  }
  return ticks / 100;
}

test(
  `many servers - ${SERVERS} processes found by multicast reach the full image of ${RECORDS} records, then stay quiet`,
  { timeout: SEEDING_WITHIN_MS + IMAGE_WITHIN_MS + 2 * STOP_WITHIN_MS + 25_000 },
  async (t) => {
    const begun = Date.now();
    const dirs = await Promise.all(Array.from({ length: SERVERS }, () => tempDir(t)));
    // Names of one file per folder: 100,000 files made and then removed would slow every
    // file made on this machine for minutes after (ext4 without a journal), other tests too.
    const counts = seedFolders(dirs, RECORDS, { hardLinks: true });
    const seeded = Date.now() - begun;
    assert.ok(seeded < SEEDING_WITHIN_MS, `seeding took ${seeded} ms`);
    const deadline = Date.now() + IMAGE_WITHIN_MS;
    const expected = new Map(counts.map((count, i) => [i + 1, count]));
    assert.equal(
      counts.reduce((a, b) => a + b),
      RECORDS,
    );

    // STARTS_AT_ONCE at a time, each wave once the one before serves, within one deadline.
    const startAll = async (
      phase: string,
      groupOf: (i: number) => string,
    ): Promise<ScaleProcess[]> => {
      const started: ScaleProcess[] = [];
      for (let first = 0; first < SERVERS; first += STARTS_AT_ONCE) {
        const wave = await Promise.allSettled(
          dirs.slice(first, first + STARTS_AT_ONCE).map((data, j) =>
            startScaleProcess({
              data,
              id: first + j + 1,
              group: groupOf(first + j),
              timeoutMs: Math.max(1000, deadline - Date.now()),
            }),
          ),
        );
        for (const result of wave) {
          if (result.status === 'rejected') continue;
          started.push(result.value);
          onCleanup(t, () => result.value.kill9());
        }
        for (const result of wave)
          if (result.status === 'rejected')
            throw new Error(
              `${phase}: ${(result.reason as Error).message.split('\n')[0]} (${((Date.now() - begun) / 1000).toFixed(0)} s into the test, ${(seeded / 1000).toFixed(0)} s of them seeding)`,
            );
      }
      return started;
    };
    // First each server alone (a group of its own) adopts its 5,000 files and stops: the
    // first scan is the start-up scan's cost, not the join's, and a scan inside a growing
    // cluster is slow today (see docs/PERFORMANCE.md, Scale). A restart trusts its index.
    const alone = await startAll('first scans, each server alone', () => uniqueGroup());
    const firstCodes = await Promise.all(alone.map((s) => s.stop()));
    assert.deepEqual(
      alone.flatMap((s, i) => (firstCodes[i] === 0 ? [] : [`server ${s.id}: ${firstCodes[i]}`])),
      [],
      'every server exits 0 on SIGTERM after its first scan (a signal name: ended by it; SIGKILL after STOP_WITHIN_MS)',
    );
    const scanned = Date.now();

    // Then all on one group, no --peers: multicast on 127.0.0.1 is all they have.
    const group = uniqueGroup();
    const servers = await startAll('the cluster', () => group);
    const serving = Date.now();
    const cpuServing = cpuSeconds(servers.map((s) => s.pid));

    const { missing, seen } = await watchFullImage(
      servers.map((s) => ({ id: s.id, address: s.address })),
      expected,
      { key: TEST_KEY, timeoutMs: Math.max(0, deadline - Date.now()) },
    );
    assert.deepEqual(missing, [], `no full image of ${RECORDS} records: ${seen.join('; ')}`);
    const imaged = Date.now();
    const cpuImaged = cpuSeconds(servers.map((s) => s.pid));
    const s = (ms: number): string => (ms / 1000).toFixed(1);
    t.diagnostic(
      `seeding ${s(seeded)} s, first scans ${s(scanned - begun - seeded)} s, cluster starts ${s(serving - scanned)} s (servers' CPU ${cpuServing.toFixed(1)} s), full image ${s(imaged - serving)} s after the last served (CPU ${(cpuImaged - cpuServing).toFixed(1)} s more); peers marked silent ${servers.reduce((n, x) => n + x.silentPeers(), 0)} times, servers stood still ${servers.reduce((n, x) => n + x.stoodStill(), 0)} times (since the cluster's start)`,
    );

    // Quiet: with nothing changing, a server's links carry its heartbeats and its peers'
    // and nothing else. A link carries at most W / interval + 1 heartbeats each way in a
    // window of W seconds, so per server and second:
    //   2 · (n − 1) · (1000 / HEARTBEAT_INTERVAL_MS) · (1 + interval / W) · heartbeat frame bytes
    // (at most ~31 KiB/s here) — independent of the 100,000 records, which would be
    // ~10 MB if any server sent its records again.
    const window = QUIET_SECONDS * 1000;
    const bound =
      2 *
      (SERVERS - 1) *
      (1000 / HEARTBEAT_INTERVAL_MS) *
      (1 + HEARTBEAT_INTERVAL_MS / window) *
      heartbeatFrameBytes();
    const quiet = await quietWindow(
      servers.map((s) => ({ id: s.id, pid: s.pid })),
      QUIET_SECONDS,
    );
    const loud = quiet.filter((q) => q.tcpBytesPerSecond > bound);
    assert.deepEqual(
      loud.map((q) => `server ${q.id}: ${q.tcpBytesPerSecond.toFixed(0)} B/s`),
      [],
      `quiet bound ${bound.toFixed(0)} B/s per server`,
    );
    // Every server talked to its peers in the window (the counters are read at all).
    assert.ok(quiet.every((q) => q.tcpBytesPerSecond > 0));

    // Everything stops cleanly: SIGTERM, and exit code 0 from each.
    const codes = await Promise.all(servers.map((s) => s.stop()));
    assert.deepEqual(
      servers.flatMap((s, i) => (codes[i] === 0 ? [] : [`server ${s.id}: ${codes[i]}`])),
      [],
      'every server exits 0 on SIGTERM (a signal name: ended by it; SIGKILL after STOP_WITHIN_MS)',
    );
  },
);
