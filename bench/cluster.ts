/**
 * The cluster part of `npm run bench` (issue 3), on loopback with multicast on
 * 127.0.0.1 and a group of its own. Servers run in this process (the server is a
 * library), so the bench can read their mesh traffic counters.
 *
 *   - three servers started at once, each with files already in its folder:
 *     time until every server lists every file;
 *   - a create on one server: time until it appears in the others' lists;
 *   - one server holding BENCH_CLUSTER_FILES files (default 100,000): time for a
 *     freshly started server to receive the whole list, and the mesh traffic per
 *     minute of a quiet cluster, next to the same cluster holding 10 files.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LanfsClient } from '../src/client/client.ts';
import { parseGroup } from '../src/discovery/multicast-beacon.ts';
import { LanfsServer } from '../src/server/server.ts';
import { silentLogger } from '../src/shared/logger.ts';

const MANY_FILES = Number(process.env.BENCH_CLUSTER_FILES ?? 100_000);
const QUIET_SECONDS = Number(process.env.BENCH_QUIET_SECONDS ?? 10);
const credentials = { key: 'bench-cluster-key', insecure: false, cluster: 'bench' };

function group(): string {
  const r = (n: number): number => Math.floor(Math.random() * n);
  return `239.255.${1 + r(250)}.${1 + r(250)}:${20000 + r(40000)}`;
}

function makeServer(dataDir: string, serverId: number, groupAddress: string): LanfsServer {
  return new LanfsServer({
    dataDir,
    serverId,
    host: '127.0.0.1',
    port: 0,
    credentials,
    // One copy per file: this part measures the image and its traffic, not replication.
    replicas: 1,
    discovery: { group: parseGroup(groupAddress), interfaceAddress: '127.0.0.1' },
    logger: silentLogger(),
  });
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('bench: timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function fillFolder(dir: string, count: number, prefix: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        const i = next++;
        const sub = join(dir, `${prefix}-${Math.floor(i / 1000)}`);
        await mkdir(sub, { recursive: true });
        await writeFile(join(sub, `f${i}.txt`), `file ${i}\n`);
      }
    }),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function line(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(58)} ${value.padStart(12)}  ${note}`);
}

export async function runClusterBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'lanfs-bench-cluster-'));
  const servers: LanfsServer[] = [];
  try {
    console.log(`lanfs cluster bench: loopback, multicast on 127.0.0.1\n`);

    // 1. Three servers started at once, 100 files each already in their folders.
    const g1 = group();
    for (let id = 1; id <= 3; id++) await fillFolder(join(root, `s${id}`), 100, `s${id}`);
    const start = performance.now();
    const three = [1, 2, 3].map((id) => makeServer(join(root, `s${id}`), id, g1));
    await Promise.all(three.map((s) => s.start()));
    servers.push(...three);
    const listening = performance.now();
    await until(() => three.every((s) => s.view.list().length === 300), 10_000);
    const full = performance.now();
    line(
      'three servers: start → every server lists all 300 files',
      `${(full - start).toFixed(0)} ms`,
      `(${(full - listening).toFixed(0)} ms after all listen; goal < 1000 ms)`,
    );

    // 2. A create on server 1, seen by servers 2 and 3.
    const client = await LanfsClient.connect({ servers: [three[0]!.address], credentials });
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const name = `appear/${i}.txt`;
      await client.create(name, [Buffer.from('x')]);
      const acked = performance.now();
      await until(() => three.slice(1).every((s) => s.view.has(name)), 5000);
      delays.push(performance.now() - acked);
    }
    client.close();
    line(
      'create on one server → listed on the other two (median of 20)',
      `${median(delays).toFixed(1)} ms`,
      `(max ${Math.max(...delays).toFixed(1)} ms; goal < 100 ms)`,
    );
    await Promise.all(three.map((s) => s.stop()));
    servers.length = 0;

    // 3. Many files: a fresh server receives the whole list; quiet traffic per minute.
    console.log(`\n  (making ${MANY_FILES} files and hashing them at a first start…)`);
    await fillFolder(join(root, 'big'), MANY_FILES, 'd');
    for (const [label, files] of [
      ['10 files', 10],
      [`${MANY_FILES} files`, MANY_FILES],
    ] as const) {
      const g = group();
      const dir = files === MANY_FILES ? join(root, 'big') : join(root, 'small');
      if (files !== MANY_FILES) await fillFolder(dir, files, 'small');
      const holder = makeServer(dir, 1, g);
      await holder.start();
      servers.push(holder);
      const fresh = makeServer(join(root, `fresh-${files}`), 2, g);
      const t0 = performance.now();
      await fresh.start();
      servers.push(fresh);
      await until(() => fresh.view.member(1)?.records.size === files, 60_000);
      const received = performance.now() - t0;
      if (files === MANY_FILES)
        line(
          `fresh server receives the list of ${MANY_FILES} files`,
          `${received.toFixed(0)} ms`,
          '(from its start)',
        );
      const third = makeServer(join(root, `third-${files}`), 3, g);
      await third.start();
      servers.push(third);
      await until(() => third.view.member(1)?.records.size === files, 60_000);
      await new Promise((r) => setTimeout(r, 1000)); // let the joins settle
      const before = servers.reduce((sum, s) => sum + s.meshTrafficBytes, 0);
      await new Promise((r) => setTimeout(r, QUIET_SECONDS * 1000));
      const after = servers.reduce((sum, s) => sum + s.meshTrafficBytes, 0);
      // Every byte is counted twice (sent by one server, received by another).
      const perMinute = ((after - before) / 2 / QUIET_SECONDS) * 60;
      line(
        `quiet 3-server cluster holding ${label}: mesh traffic`,
        `${(perMinute / 1024).toFixed(1)} KiB/min`,
        '(all three servers, both directions)',
      );
      await Promise.all(servers.map((s) => s.stop()));
      servers.length = 0;
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(root, { recursive: true, force: true });
  }
}
