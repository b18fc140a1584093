/**
 * `npm run bench -- protocols`: the standard front ends (WebDAV under /dav/, S3
 * at the root of the HTTP port) next to lanfs's own HTTP and CLI figures of the
 * same run, on the same 3-server cluster (2 copies):
 *
 *   4 KiB PUT and GET, 16 clients keep-alive, the bench's load tool for all three
 *   (/files/ with Bearer, /dav/ with Bearer, S3 signed by AWS's own signer);
 *   512 MiB PUT and GET with the clients people use: the lanfs CLI, curl for
 *   WebDAV, aws-cli (`s3 cp`, multipart) for S3.
 *
 * Medians of BENCH_ROUNDS rounds. The ratios say what a protocol costs over the
 * native path; the large rows also measure the client (aws-cli is Python).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load, startCluster } from './core.ts';
import {
  credentials,
  LANFS_BIN,
  LARGE_BYTES,
  makeLargeFile,
  mbps,
  median,
  ROUNDS,
  tempRoot,
  timed,
  track,
  waitExit,
  type BenchServer,
} from './lib.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const AWS = '/usr/bin/aws';

/** Runs a command to its end; throws with its stderr when it fails. Returns its wall time (s). */
async function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  let stderr = '';
  let code: number | null = null;
  const seconds = await timed(async () => {
    const child = track(
      spawn(command, args, {
        stdio: ['ignore', 'ignore', 'pipe'],
        // An undefined value removes that variable of the machine's own environment.
        env: Object.fromEntries(
          Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined),
        ),
      }),
    );
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    await waitExit(child, 900_000);
    code = child.exitCode;
  });
  if (code !== 0)
    throw new Error(`bench: ${command} ${args.join(' ')} failed (${code}): ${stderr}`);
  return seconds;
}

/** aws-cli's environment: our credentials only, nothing from the machine's own setup. */
async function awsEnv(root: string): Promise<NodeJS.ProcessEnv> {
  const config = join(root, 'aws-config');
  await writeFile(config, '[default]\nregion = us-east-1\n');
  return {
    AWS_ACCESS_KEY_ID: 'lanfs',
    AWS_SECRET_ACCESS_KEY: credentials.key,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: join(root, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CA_BUNDLE: undefined,
    AWS_PROFILE: undefined,
  };
}

interface Row {
  figure: string;
  native: number;
  webdav: number;
  s3: number;
  unit: 'ops' | 'MB/s';
}

export async function runProtocolsBench(): Promise<void> {
  const root = await tempRoot('protocols');
  let servers: BenchServer[] = [];
  try {
    console.log(
      `\nlanfs protocols bench: 3 servers (2 copies); 4 KiB with 16 clients for ${SECONDS} s, ` +
        `${LARGE_BYTES / 1048576} MiB with real clients; median of ${ROUNDS} rounds, loopback`,
    );
    servers = await startCluster(root.path);
    const http = `http://${servers[0]!.httpAddress}`;
    const key = credentials.key;
    // The WebDAV folder and the S3 bucket the rows write into.
    await run('curl', [
      '-sf',
      '-X',
      'MKCOL',
      '-H',
      `Authorization: Bearer ${key}`,
      `${http}/dav/davbench/`,
    ]);
    const aws = await awsEnv(root.path);
    const hasAws = existsSync(AWS);
    if (hasAws) await run(AWS, ['--endpoint-url', http, 's3', 'mb', 's3://s3bench'], aws);
    else console.log(`  (no ${AWS}: the S3 rows need Debian's awscli)`);

    const small = { put: [] as number[][], get: [] as number[][] };
    for (let round = 0; round < ROUNDS; round++) {
      const targets = [
        { base: `${http}/files/`, prefix: `native-${round}-`, s3: false },
        { base: `${http}/dav/davbench/`, prefix: `r${round}-`, s3: false },
        { base: `${http}/s3bench/`, prefix: `r${round}-`, s3: true },
      ];
      const puts: number[] = [];
      const gets: number[] = [];
      for (const target of targets) {
        if (target.s3 && !hasAws) {
          puts.push(Number.NaN);
          gets.push(Number.NaN);
          continue;
        }
        const put = await load({
          kind: 'http-put',
          target: target.base,
          prefix: target.prefix,
          seconds: SECONDS,
          key,
          s3: target.s3,
        });
        puts.push(put.opsPerSecond);
        const get = await load({
          kind: 'http-get',
          target: target.base,
          prefix: target.prefix,
          seconds: SECONDS,
          key,
          s3: target.s3,
          files: Math.max(1, put.ops),
        });
        gets.push(get.opsPerSecond);
      }
      small.put.push(puts);
      small.get.push(gets);
      console.log(
        `round ${round + 1}: 4 KiB PUT native/WebDAV/S3 ${puts.map((n) => Math.round(n)).join(' / ')}/s, ` +
          `GET ${gets.map((n) => Math.round(n)).join(' / ')}/s`,
      );
    }

    const source = join(root.path, 'large.bin');
    await makeLargeFile(source);
    const back = join(root.path, 'back.bin');
    const large = { put: [] as number[][], get: [] as number[][] };
    for (let round = 0; round < ROUNDS; round++) {
      const cli = (args: string[]) =>
        run(process.execPath, [LANFS_BIN, ...args], {
          LANFS_SERVER: servers[0]!.address,
          LANFS_KEY: key,
          NODE_OPTIONS: '',
        });
      const name = `large-${round}.bin`;
      const putNative = await cli(['create', `native/${name}`, '--from', source]);
      const getNative = await cli(['download', `native/${name}`, '-o', back, '--force']);
      const auth = ['-u', `lanfs:${key}`];
      const putDav = await run('curl', [
        '-sf',
        ...auth,
        '-T',
        source,
        `${http}/dav/davbench/${name}`,
      ]);
      const getDav = await run('curl', [
        '-sf',
        ...auth,
        '-o',
        back,
        `${http}/dav/davbench/${name}`,
      ]);
      let putS3 = Number.NaN;
      let getS3 = Number.NaN;
      if (hasAws) {
        putS3 = await run(
          AWS,
          ['--endpoint-url', http, 's3', 'cp', source, `s3://s3bench/${name}`],
          aws,
        );
        getS3 = await run(
          AWS,
          ['--endpoint-url', http, 's3', 'cp', `s3://s3bench/${name}`, back],
          aws,
        );
      }
      const rate = (s: number) => mbps(LARGE_BYTES, s);
      large.put.push([putNative, putDav, putS3].map(rate));
      large.get.push([getNative, getDav, getS3].map(rate));
      await rm(back, { force: true });
      console.log(
        `round ${round + 1}: ${LARGE_BYTES / 1048576} MiB PUT CLI/WebDAV/S3 ` +
          `${large.put[round]!.map((n) => n.toFixed(0)).join(' / ')} MB/s, GET ` +
          `${large.get[round]!.map((n) => n.toFixed(0)).join(' / ')} MB/s`,
      );
    }

    const med = (rounds: number[][], i: number) => median(rounds.map((r) => r[i]!));
    const rows: Row[] = [
      ['4 KiB PUT', small.put, 'ops'] as const,
      ['4 KiB GET', small.get, 'ops'] as const,
      [`${LARGE_BYTES / 1048576} MiB PUT`, large.put, 'MB/s'] as const,
      [`${LARGE_BYTES / 1048576} MiB GET`, large.get, 'MB/s'] as const,
    ].map(([figure, rounds, unit]) => ({
      figure,
      native: med(rounds, 0),
      webdav: med(rounds, 1),
      s3: med(rounds, 2),
      unit,
    }));
    const fmt = (n: number, unit: Row['unit']) =>
      Number.isNaN(n)
        ? '—'
        : unit === 'ops'
          ? `${Math.round(n).toLocaleString('en-US')}/s`
          : `${n.toFixed(0)} MB/s`;
    const ratio = (n: number, of: number) => (Number.isNaN(n) ? '—' : `${(n / of).toFixed(2)}×`);
    console.log(
      '\n| figure | native (HTTP /files, CLI) | WebDAV | S3 | WebDAV/native | S3/native |',
    );
    console.log('|---|---|---|---|---|---|');
    for (const r of rows)
      console.log(
        `| ${r.figure} | ${fmt(r.native, r.unit)} | ${fmt(r.webdav, r.unit)} | ${fmt(r.s3, r.unit)} | ` +
          `${ratio(r.webdav, r.native)} | ${ratio(r.s3, r.native)} |`,
      );
    console.log(
      '\n(large rows: native = the lanfs CLI; WebDAV = curl -T / curl -o; S3 = aws s3 cp, multipart above 8 MB)',
    );
  } finally {
    await Promise.all(servers.map((s) => s.shutdown()));
    await root.remove();
  }
}
