/**
 * The core part of `npm run bench` (issue 10): the five figures a user compares
 * lanfs with, each next to its reference measured in the same run with the same
 * load tool (bench/load.ts, a child process of its own), on loopback:
 *
 *   1. 4 KiB create via HTTP PUT, 16 clients keep-alive, 3 servers, 2 copies
 *      vs nginx WebDAV PUT (1 copy, no fsync) and vs a local durable create;
 *   2. 4 KiB download via HTTP GET, 16 clients keep-alive, vs nginx GET;
 *   3. 4 KiB create via the lanfs protocol (LanfsClient, 16 connections) vs the
 *      local durable create (write + fsync + rename, 16 at once);
 *   4. 512 MiB create with 2 copies through the CLI vs a plain Node TCP copy;
 *   5. 512 MiB download through the CLI vs the same copy.
 *
 * Each figure is the median of BENCH_ROUNDS rounds (3), lanfs and its reference
 * taking turns within a round, and each ratio the median of the rounds' ratios; each 512 MiB transfer has a raw copy of its own
 * beside it (before it in even rounds, after it in odd ones). Each 4 KiB measurement runs BENCH_SECONDS (3 s)
 * after a 0.5 s warm-up, at most BENCH_MAX_OPS (100,000) requests.
 * nginx rows are skipped, with a note, when nginx is not installed.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadResult } from './load.ts';
import { startNginx, type Nginx } from './nginx.ts';
import {
  type BenchServer,
  connectClient,
  credentials,
  LANFS_BIN,
  LARGE_BYTES,
  makeLargeFile,
  mbps,
  medians,
  pairedRatio,
  rawCopy,
  roundRatios,
  ROUNDS,
  SMALL_BYTES,
  startServer,
  tempRoot,
  timed,
  track,
  waitExit,
} from './lib.ts';

const WORKERS = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 0.5);
const MAX_OPS = Number(process.env.BENCH_MAX_OPS ?? 100_000);
const LOAD_SCRIPT = fileURLToPath(new URL('./load.ts', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));

export interface CoreRow {
  figure: string;
  lanfs: string;
  reference: string;
  ratio: string;
  goal: string;
  met: string;
}

/** Runs one load job in a child process; returns its result (errors reported, not thrown). */
export async function load(
  job: Omit<LoadJob, 'workers' | 'warmupSeconds' | 'maxOps' | 'bytes'> & Partial<LoadJob>,
): Promise<LoadResult> {
  const full: LoadJob = {
    workers: WORKERS,
    warmupSeconds: WARMUP_SECONDS,
    maxOps: MAX_OPS,
    bytes: SMALL_BYTES,
    ...job,
  };
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', LOAD_SCRIPT, JSON.stringify(full)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UV_THREADPOOL_SIZE: '16', NODE_OPTIONS: '' },
    }),
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  await waitExit(child, (full.warmupSeconds + full.seconds + 60) * 1000);
  const line = out.trim().split('\n').pop() ?? '';
  let result: LoadResult;
  try {
    result = JSON.parse(line) as LoadResult;
  } catch {
    throw new Error(
      `bench: the load tool failed (${job.kind} ${job.target}): ${err.slice(0, 2000)}`,
    );
  }
  if (result.errors > 0)
    console.log(
      `  ! ${job.kind} ${job.target}${job.prefix}: ${result.errors} errors, first: ${result.firstError}`,
    );
  return result;
}

/** Runs the lanfs CLI (bin/lanfs.cjs) on the cluster; returns its wall time in seconds. */
export async function cli(server: string, args: string[]): Promise<number> {
  let stderr = '';
  let code: number | null = null;
  const seconds = await timed(async () => {
    const child = track(
      spawn(process.execPath, [LANFS_BIN, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LANFS_SERVER: server, LANFS_KEY: credentials.key, NODE_OPTIONS: '' },
      }),
    );
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    await waitExit(child, 600_000);
    code = child.exitCode;
  });
  if (code !== 0) throw new Error(`bench: lanfs ${args.join(' ')} failed (${code}): ${stderr}`);
  return seconds;
}

export const fmtOps = (n: number): string => `${Math.round(n).toLocaleString('en-US')}/s`;
export const fmtMBps = (n: number): string => `${n.toFixed(0)} MB/s`;
export const fmtRatio = (n: number): string => `${n.toFixed(2)}×`;

/** Three server processes joined by --peers, 2 copies of each file, HTTP on each. */
export async function startCluster(root: string): Promise<BenchServer[]> {
  const servers: BenchServer[] = [];
  const common = ['--replicas', '2', '--http-port', '0'];
  servers.push(await startServer(join(root, 'server-1'), 1, common));
  servers.push(
    await startServer(join(root, 'server-2'), 2, [...common, '--peers', servers[0]!.address]),
  );
  servers.push(
    await startServer(join(root, 'server-3'), 3, [
      ...common,
      '--peers',
      `${servers[0]!.address},${servers[1]!.address}`,
    ]),
  );
  const client = await connectClient(servers[0]!.address);
  try {
    const deadline = performance.now() + 20_000;
    for (;;) {
      const up = (await client.status()).servers.filter((s) => s.up).length;
      if (up === 3) break;
      if (performance.now() > deadline)
        throw new Error(`bench: only ${up} of 3 servers up after 20 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
  return servers;
}

export async function runCoreBench(): Promise<CoreRow[]> {
  const temp = await tempRoot('core');
  const root = temp.path;
  let nginx: Nginx | undefined;
  let servers: BenchServer[] = [];
  try {
    console.log(
      `\nlanfs core bench: 3 servers (2 copies), ${WORKERS} clients, 4 KiB for ${SECONDS} s per figure, ` +
        `${LARGE_BYTES / 1048576} MiB through the CLI, median of ${ROUNDS} rounds, loopback\n`,
    );
    nginx = await startNginx(join(root, 'nginx'));
    if (nginx)
      console.log(`reference: ${nginx.version} on ${nginx.base} (WebDAV PUT, GET; no fsync)`);
    else
      console.log(
        'note: nginx is not installed, so the nginx rows are skipped (Debian: apt-get install nginx).',
      );
    servers = await startCluster(root);
    const one = servers[0]!;
    const lanfsHttp = `http://${one.httpAddress}/files/`;
    console.log(
      `lanfs: servers on ${servers.map((s) => s.address).join(', ')}; HTTP on ${one.httpAddress}\n`,
    );

    const f = {
      localCreate: [] as number[],
      nginxPut: [] as number[],
      lanfsPut: [] as number[],
      lanfsCreate: [] as number[],
      nginxGet: [] as number[],
      lanfsGet: [] as number[],
      rawForCreate: [] as number[],
      rawForDownload: [] as number[],
      cliCreate: [] as number[],
      cliDownload: [] as number[],
    };
    const seconds = SECONDS;
    for (let round = 0; round < ROUNDS; round++) {
      const local = join(root, `local-${round}`);
      await mkdir(local);
      f.localCreate.push(
        (await load({ kind: 'local-create', target: local, prefix: '', seconds })).opsPerSecond,
      );
      // Kept until the end (the temp root goes then): on an ext4 without a journal, as
      // this VM's, a new file skips every inode freed in the last minutes, one lookup
      // each, so deleting these thousands of files here made the next figures pay for it.
      let nginxFiles = 0;
      if (nginx) {
        const put = await load({
          kind: 'http-put',
          target: nginx.base,
          prefix: `r${round}/`,
          seconds,
        });
        f.nginxPut.push(put.opsPerSecond);
        nginxFiles = put.ops;
      }
      const put = await load({
        kind: 'http-put',
        target: lanfsHttp,
        prefix: `h${round}/`,
        seconds,
        key: credentials.key,
      });
      f.lanfsPut.push(put.opsPerSecond);
      f.lanfsCreate.push(
        (
          await load({
            kind: 'lanfs-create',
            target: one.address,
            prefix: `p${round}/`,
            seconds,
            key: credentials.key,
          })
        ).opsPerSecond,
      );
      if (nginx)
        f.nginxGet.push(
          (
            await load({
              kind: 'http-get',
              target: nginx.base,
              prefix: `r${round}/`,
              files: nginxFiles,
              seconds,
            })
          ).opsPerSecond,
        );
      f.lanfsGet.push(
        (
          await load({
            kind: 'http-get',
            target: lanfsHttp,
            prefix: `h${round}/`,
            files: put.ops,
            seconds,
            key: credentials.key,
          })
        ).opsPerSecond,
      );
      console.log(
        `round ${round + 1}: local durable ${fmtOps(f.localCreate[round]!)}, nginx PUT ${nginx ? fmtOps(f.nginxPut[round]!) : '—'}, ` +
          `lanfs PUT ${fmtOps(f.lanfsPut[round]!)}, lanfs protocol create ${fmtOps(f.lanfsCreate[round]!)}, ` +
          `nginx GET ${nginx ? fmtOps(f.nginxGet[round]!) : '—'}, lanfs GET ${fmtOps(f.lanfsGet[round]!)}`,
      );
    }

    const source = join(root, 'large.bin');
    await makeLargeFile(source);
    const target = join(root, 'downloaded.bin');
    const client = await connectClient(one.address);
    try {
      // Part of every CLI figure: starting node and the CLI, connecting, the handshake.
      const startup = await cli(one.address, ['status']);
      console.log(`(the CLI's start-up: \`lanfs status\` takes ${(startup * 1000).toFixed(0)} ms)`);
      for (let round = 0; round < ROUNDS; round++) {
        const name = `large-${round}.bin`;
        const rawTarget = join(root, 'raw-copy.bin');
        // Each lanfs transfer is paired with a raw copy, the raw copy first in even rounds
        // and second in odd ones, and neither's file is removed before the other ran: on
        // this VM, writing into memory freed a moment ago costs a fraction of writing into
        // memory the host must back anew (see docs/PERFORMANCE.md). The first of a pair
        // may get the memory freed just before; the second never gets the first's, and
        // taking turns spreads that edge (with 3 rounds the raw copy has it twice).
        const paired = async (transfer: () => Promise<number>): Promise<[number, number]> => {
          const raw = async (): Promise<number> =>
            mbps(LARGE_BYTES, await rawCopy(source, rawTarget, false, true));
          const lanfs = async (): Promise<number> => mbps(LARGE_BYTES, await transfer());
          let pair: [number, number];
          if (round % 2 === 0) {
            const r = await raw();
            pair = [await lanfs(), r];
          } else {
            const l = await lanfs();
            pair = [l, await raw()];
          }
          await rm(rawTarget, { force: true });
          return pair;
        };
        const [create, rawForCreate] = await paired(
          async () => await cli(one.address, ['create', name, '--from', source]),
        );
        const [download, rawForDownload] = await paired(
          async () => await cli(one.address, ['download', name, '-o', target, '--force']),
        );
        f.cliCreate.push(create);
        f.rawForCreate.push(rawForCreate);
        f.cliDownload.push(download);
        f.rawForDownload.push(rawForDownload);
        await rm(target, { force: true });
        await client.delete(name); // keeps the disk use to one file's copies at a time
        console.log(
          `round ${round + 1} (${round % 2 === 0 ? 'raw copy first' : 'lanfs first'}): ` +
            `CLI create ${fmtMBps(create)} (raw copy ${fmtMBps(rawForCreate)}), ` +
            `CLI download ${fmtMBps(download)} (raw copy ${fmtMBps(rawForDownload)})`,
        );
      }
    } finally {
      client.close();
    }
    await rm(source, { force: true });

    const m = medians(f);
    const mib = LARGE_BYTES / 1048576;
    const vsNginxPut = pairedRatio(f.lanfsPut, f.nginxPut);
    const vsLocal = pairedRatio(f.lanfsPut, f.localCreate);
    const vsNginxGet = pairedRatio(f.lanfsGet, f.nginxGet);
    const protocolVsLocal = pairedRatio(f.lanfsCreate, f.localCreate);
    const createVsRaw = pairedRatio(f.cliCreate, f.rawForCreate);
    const downloadVsRaw = pairedRatio(f.cliDownload, f.rawForDownload);
    const rows: CoreRow[] = [
      {
        figure: '4 KiB create, 2 copies, HTTP PUT, 16 clients',
        lanfs: fmtOps(m.lanfsPut),
        reference: nginx
          ? `nginx PUT ${fmtOps(m.nginxPut)}; local durable ${fmtOps(m.localCreate)}`
          : `local durable ${fmtOps(m.localCreate)} (nginx: not installed)`,
        ratio: nginx ? `${fmtRatio(vsNginxPut)}; ${fmtRatio(vsLocal)}` : `—; ${fmtRatio(vsLocal)}`,
        goal: '≥ 0.5× nginx; ≥ 1.0× local',
        met: nginx ? yesNo(vsNginxPut >= 0.5 && vsLocal >= 1) : vsLocal >= 1 ? 'local only' : 'no',
      },
      {
        figure: '4 KiB download, HTTP GET, 16 clients',
        lanfs: fmtOps(m.lanfsGet),
        reference: nginx ? `nginx GET ${fmtOps(m.nginxGet)}` : 'nginx: not installed',
        ratio: nginx ? fmtRatio(vsNginxGet) : '—',
        goal: '≥ 0.5×',
        met: nginx ? yesNo(vsNginxGet >= 0.5) : '—',
      },
      {
        figure: '4 KiB create, lanfs protocol, 16 clients',
        lanfs: fmtOps(m.lanfsCreate),
        reference: `local durable ${fmtOps(m.localCreate)}`,
        ratio: fmtRatio(protocolVsLocal),
        goal: '≥ 1.0×',
        met: yesNo(protocolVsLocal >= 1),
      },
      {
        figure: `${mib} MiB create, 2 copies, CLI`,
        lanfs: fmtMBps(m.cliCreate),
        reference: `raw TCP copy ${fmtMBps(m.rawForCreate)}`,
        ratio: fmtRatio(createVsRaw),
        goal: '≥ 0.6×',
        met: yesNo(createVsRaw >= 0.6),
      },
      {
        figure: `${mib} MiB download, CLI`,
        lanfs: fmtMBps(m.cliDownload),
        reference: `raw TCP copy ${fmtMBps(m.rawForDownload)}`,
        ratio: fmtRatio(downloadVsRaw),
        goal: '≥ 0.8×',
        met: yesNo(downloadVsRaw >= 0.8),
      },
    ];
    console.log(
      `\nratio in each round: HTTP PUT/nginx ${roundRatios(f.lanfsPut, f.nginxPut)}; ` +
        `HTTP PUT/local ${roundRatios(f.lanfsPut, f.localCreate)}; GET/nginx ${roundRatios(f.lanfsGet, f.nginxGet)}; ` +
        `protocol/local ${roundRatios(f.lanfsCreate, f.localCreate)}; CLI create/raw ${roundRatios(f.cliCreate, f.rawForCreate)}; ` +
        `CLI download/raw ${roundRatios(f.cliDownload, f.rawForDownload)}`,
    );
    return rows;
  } finally {
    await Promise.all(servers.map((s) => s.shutdown()));
    await nginx?.stop();
    await temp.remove();
  }
}

const yesNo = (ok: boolean): string => (ok ? 'yes' : 'no');

/** The summary: a Markdown table (pastes into docs/PERFORMANCE.md as it is). */
export function printCoreSummary(rows: CoreRow[]): void {
  printSummary(
    "Summary (issue 10 core figures): each figure the median of its rounds, each ratio the median of the rounds' ratios:",
    rows,
  );
}

/** rows as a Markdown table under title. */
export function printSummary(title: string, rows: CoreRow[]): void {
  const header: CoreRow = {
    figure: 'figure',
    lanfs: 'lanfs',
    reference: 'reference, same run',
    ratio: 'ratio',
    goal: 'goal',
    met: 'met?',
  };
  const keys = Object.keys(header) as (keyof CoreRow)[];
  const width = (k: keyof CoreRow): number =>
    Math.max(...[header, ...rows].map((r) => r[k].length));
  const line = (r: CoreRow): string => `| ${keys.map((k) => r[k].padEnd(width(k))).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(header));
  console.log(`| ${keys.map((k) => '-'.repeat(width(k))).join(' | ')} |`);
  for (const row of rows) console.log(line(row));
}
