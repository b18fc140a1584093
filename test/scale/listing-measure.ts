/**
 * Measures what issue 16 part 2 asks of a large cluster (not a test; run by hand):
 * a records-only member holding N records (records-member.ts), a real server process
 * that joins it (time until it holds them all, its RSS then), then a listing of
 * every name from that server through the client library (whole records, and
 * names only), GET /api/files, `lanfs show --json` and `lanfs show --names`, and
 * two `status` calls. Each figure comes with the server's
 * CPU seconds for it (the machine may be shared) and the same run's references: a
 * plain JSON.stringify of the names and of the records, in this process.
 *
 *   npm run build && node --import tsx test/scale/listing-measure.ts [N=1000000] [--cpu-prof DIR]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LanfsClient } from '../../src/client/client.ts';
import { cleanEnv, LANFS_BIN, uniqueGroup, type Cleanup } from '../harness/cli.ts';
import { madeUpRecord, recordName, startRecordsMember } from './records-member.ts';

const KEY = 'lanfs-measure-key';
const count = Number(process.argv[2] ?? 1_000_000);
const profIndex = process.argv.indexOf('--cpu-prof');
const profDir = profIndex > 0 ? process.argv[profIndex + 1] : undefined;

const cleanups: (() => unknown)[] = [];
const t: Cleanup = { after: (fn) => cleanups.push(fn) };
const seconds = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;
const rssMiB = (pid: number): number =>
  Number(
    execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
      .toString()
      .trim(),
  ) / 1024;
/** CPU seconds (user + system) a process has used so far. */
const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** `lanfs server` on loopback (as the test harness starts it), under --cpu-prof if asked. */
async function spawnServer(
  args: string[],
): Promise<{ child: ChildProcess; address: string; httpPort: number }> {
  const node = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
  const loopback = ['--host', '127.0.0.1', '--port', '0', '--interface', '127.0.0.1'];
  const child = spawn(
    process.execPath,
    [...node, LANFS_BIN, 'server', ...loopback, '--group', uniqueGroup(), ...args],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('exit', (code, signal) =>
    console.log(`server exited: code ${code}, signal ${signal}`),
  );
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  return await new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const at = / on ([\d.]+):(\d+)/.exec(out);
      const dashboard = /Dashboard: http:\/\/[\d.]+:(\d+)\//.exec(out);
      if (at && dashboard)
        resolve({ child, address: `127.0.0.1:${at[2]}`, httpPort: Number(dashboard[1]) });
    });
    void exited.then(() => reject(new Error(`server exited: ${out}`)));
  });
}

/** Runs one phase and prints its wall time, rate and the server's CPU time for it. */
async function phase(
  what: string,
  pid: number,
  run: () => Promise<number>,
): Promise<{ wall: number; cpu: number; names: number }> {
  const cpu0 = cpuSeconds(pid);
  const started = process.hrtime.bigint();
  const names = await run();
  const wall = seconds(started);
  const cpu = cpuSeconds(pid) - cpu0;
  console.log(
    `${what}: ${names} names in ${wall.toFixed(2)} s = ${(names / wall).toFixed(0)} names/s ` +
      `(server CPU ${cpu.toFixed(2)} s = ${(names / cpu).toFixed(0)} names per CPU second)`,
  );
  return { wall, cpu, names };
}

async function main(): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'lanfs-measure-'));
  cleanups.push(() => rmSync(data, { recursive: true, force: true }));
  let started = process.hrtime.bigint();
  // Silence for 10 s (not 2) marks a peer down: a major GC of a million records on a
  // loaded machine can stand a process still for seconds (then a full copy starts over).
  const member = await startRecordsMember(t, { id: 90, count, key: KEY, downAfterMs: 10_000 });
  console.log(`member with ${count} records made in ${seconds(started).toFixed(2)} s`);

  const server = await spawnServer([
    '--data',
    data,
    '--id',
    '1',
    '--key',
    KEY,
    '--replicas',
    '1',
    '--http-port',
    '0',
    '--peer-timeout',
    '10000',
  ]);
  const pid = server.child.pid!;
  const rssEmpty = rssMiB(pid);
  const client = await LanfsClient.connect({
    servers: [server.address],
    credentials: { key: KEY, insecure: false, cluster: 'lanfs' },
  });
  // The join: the server is told of the member now (as by discovery) and links with it.
  // The member sends its records in the order it holds them, on one link: once its last
  // record is listed, every record is in.
  const lastName = recordName(count - 1);
  await phase('join (all records in)', pid, async () => {
    member.mesh.addSeed(server.address);
    for (let i = 0; ; i++) {
      const [found] = await client.list({ prefix: lastName, limit: 1 });
      if (found?.name === lastName) return count;
      if (i > 24_000) throw new Error('the server never got every record');
      await new Promise((r) => setTimeout(r, 25));
    }
  });
  await new Promise((r) => setTimeout(r, 2000));
  const rss = rssMiB(pid);
  console.log(
    `RSS: ${rss.toFixed(0)} MiB with ${count} records (${rssEmpty.toFixed(0)} MiB before): ` +
      `${(((rss - rssEmpty) * 1024 * 1024) / count).toFixed(0)} bytes per record`,
  );

  for (let run = 1; run <= 2; run++)
    await phase(`client library listPages, run ${run}`, pid, async () => {
      let listed = 0;
      let last = '';
      for await (const page of client.listPages()) {
        for (const record of page.records) {
          if (record.name <= last) throw new Error(`out of order: ${record.name} after ${last}`);
          last = record.name;
        }
        listed += page.records.length;
      }
      return listed;
    });

  for (let run = 1; run <= 2; run++)
    await phase(`client library listNames (names only), run ${run}`, pid, async () => {
      let listed = 0;
      let last = '';
      for await (const names of client.listNames()) {
        for (const name of names) {
          if (name <= last) throw new Error(`out of order: ${name} after ${last}`);
          last = name;
        }
        listed += names.length;
      }
      return listed;
    });

  await phase('GET /api/files', pid, async () => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/files`, {
      headers: { Authorization: `Bearer ${KEY}` },
    });
    let names = 0;
    let carry = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      const lines = (carry + decoder.decode(chunk, { stream: true })).split('\n');
      carry = lines.pop()!;
      for (const line of lines) if (line.startsWith('{"name":')) names++;
    }
    return names;
  });

  // Said and passed over when it fails: the status and the references still get measured.
  await phase('lanfs show --json', pid, async () => {
    const cli = spawn(process.execPath, [LANFS_BIN, 'show', '--json'], {
      env: cleanEnv({ LANFS_KEY: KEY, LANFS_SERVER: server.address }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let names = 0;
    let carry = '';
    cli.stdout.setEncoding('utf8');
    cli.stdout.on('data', (chunk: string) => {
      const lines = (carry + chunk).split('\n');
      carry = lines.pop()!;
      for (const line of lines) if (line.startsWith('    "name": ')) names++;
    });
    const code = await new Promise((resolve) => cli.on('exit', resolve));
    if (code !== 0) throw new Error(`lanfs show --json exited with ${String(code)}`);
    return names;
  }).catch((err: unknown) => console.log(`lanfs show --json failed: ${(err as Error).message}`));

  await phase('lanfs show --names', pid, async () => {
    const cli = spawn(process.execPath, [LANFS_BIN, 'show', '--names'], {
      env: cleanEnv({ LANFS_KEY: KEY, LANFS_SERVER: server.address }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let names = 0;
    cli.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) names++;
    });
    const code = await new Promise((resolve) => cli.on('exit', resolve));
    if (code !== 0) throw new Error(`lanfs show --names exited with ${String(code)}`);
    return names;
  }).catch((err: unknown) => console.log(`lanfs show --names failed: ${(err as Error).message}`));

  for (let run = 1; run <= 2; run++) {
    started = process.hrtime.bigint();
    const status = await client.status();
    const files = status.servers.map((s) => `${s.id}: ${s.files}`).join(', ');
    console.log(`status, run ${run}: ${(seconds(started) * 1000).toFixed(0)} ms (files ${files})`);
  }
  client.close();

  // References, last: they hold this process (and the member in it) for a while.
  const records = Array.from({ length: count }, (_, i) => madeUpRecord(i, 90));
  started = process.hrtime.bigint();
  const names = JSON.stringify(records.map((r) => r.name));
  const namesS = seconds(started);
  started = process.hrtime.bigint();
  const all = JSON.stringify(records);
  const recordsS = seconds(started);
  console.log(
    `reference: JSON.stringify of the ${count} names ${namesS.toFixed(2)} s ` +
      `(${(count / namesS).toFixed(0)}/s, ${(names.length / 1e6).toFixed(0)} MB), ` +
      `of the records ${recordsS.toFixed(2)} s (${(count / recordsS).toFixed(0)}/s, ${(all.length / 1e6).toFixed(0)} MB)`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
