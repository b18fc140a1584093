/**
 * The load tool of the core bench, run as a child process of its own (so it
 * shares an event loop with nothing): `node --import tsx bench/load.ts JOB`, JOB
 * being one JSON object (LoadJob); it prints one line of JSON (LoadResult).
 *
 * Every kind of job runs the same way: `workers` workers, each doing one request
 * after another (so at most `workers` in flight), first for `warmupSeconds`
 * (not counted), then until `seconds` have passed or `maxOps` requests were
 * started, whichever comes first. The figure is requests completed per second.
 *
 *   http-put      PUT 4 KiB to BASE/PREFIXf<i> (nginx WebDAV and lanfs alike);
 *   http-get      GET BASE/PREFIXf<i mod files>, the body read to the end;
 *   lanfs-create  LanfsClient.create over the lanfs protocol, one connection per worker;
 *   local-create  write + fsync + close + rename of a new file in a local folder.
 *
 * HTTP goes through one `http.Agent({ keepAlive: true, maxSockets: workers })`.
 */
import { randomFillSync } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { LanfsClient } from '../src/client/client.ts';

export interface LoadJob {
  kind: 'http-put' | 'http-get' | 'lanfs-create' | 'local-create';
  /** http-*: e.g. http://127.0.0.1:8080/files/; lanfs-create: host:port; local-create: a folder. */
  target: string;
  /** Prepended to every name; must be new for each create job. */
  prefix: string;
  workers: number;
  seconds: number;
  warmupSeconds: number;
  maxOps: number;
  bytes: number;
  /** http-get: how many files PREFIXf0… exist. */
  files?: number;
  /** http-*: sent as Authorization: Bearer; lanfs-create: the cluster key. */
  key?: string;
}

export interface LoadResult {
  ops: number;
  seconds: number;
  opsPerSecond: number;
  errors: number;
  /** The first error seen, if any. */
  firstError?: string;
}

type Op = (i: number, worker: number, warm: boolean) => Promise<void>;

async function httpOp(job: LoadJob): Promise<{ op: Op; close: () => void }> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.workers });
  const body = randomFillSync(Buffer.alloc(job.bytes));
  const base = new URL(job.target);
  const auth: Record<string, string> = job.key ? { Authorization: `Bearer ${job.key}` } : {};
  const put = job.kind === 'http-put';
  const op: Op = (i, _worker, warm) =>
    new Promise<void>((resolve, reject) => {
      const name = put
        ? `${job.prefix}${warm ? 'w' : 'f'}${i}`
        : `${job.prefix}f${i % Math.max(1, job.files ?? 1)}`;
      const req = request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method: put ? 'PUT' : 'GET',
          path: `${base.pathname}${name}`,
          headers: put
            ? { ...auth, 'Content-Length': job.bytes, 'Content-Type': 'application/octet-stream' }
            : auth,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let received = 0;
          res.on('data', (chunk: Buffer) => (received += chunk.length));
          res.on('error', reject);
          res.on('end', () => {
            if (put ? status !== 201 && status !== 204 : status !== 200)
              reject(new Error(`${put ? 'PUT' : 'GET'} ${name}: HTTP ${status}`));
            else if (!put && received !== job.bytes)
              reject(new Error(`GET ${name}: ${received} bytes, not ${job.bytes}`));
            else resolve();
          });
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`${name}: no answer within 30 s`)));
      req.on('error', reject);
      req.end(put ? body : undefined);
    });
  return await Promise.resolve({ op, close: () => agent.destroy() });
}

async function lanfsOp(job: LoadJob): Promise<{ op: Op; close: () => void }> {
  const credentials = { key: job.key, insecure: false, cluster: 'lanfs' };
  const clients = await Promise.all(
    Array.from({ length: job.workers }, () =>
      LanfsClient.connect({ servers: [job.target], credentials }),
    ),
  );
  const body = randomFillSync(Buffer.alloc(job.bytes));
  const op: Op = async (i, worker, warm) => {
    await clients[worker]!.create(`${job.prefix}${warm ? 'w' : 'f'}${i}`, [body], {
      size: job.bytes,
    });
  };
  return { op, close: () => clients.forEach((c) => c.close()) };
}

async function localOp(job: LoadJob): Promise<{ op: Op; close: () => void }> {
  const body = randomFillSync(Buffer.alloc(job.bytes));
  const op: Op = async (i, _worker, warm) => {
    const name = `${job.prefix}${warm ? 'w' : 'f'}${i}`;
    const temp = join(job.target, `${name}.tmp`);
    const handle = await open(temp, 'w');
    try {
      await handle.write(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(job.target, name));
  };
  return await Promise.resolve({ op, close: () => undefined });
}

/** Runs op over the workers until the time or the count is reached. */
async function drive(
  job: LoadJob,
  op: Op,
  seconds: number,
  maxOps: number,
  warm: boolean,
): Promise<LoadResult> {
  let next = 0;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: job.workers }, async (_, worker) => {
      while (next < maxOps && performance.now() < deadline) {
        const i = next++;
        try {
          await op(i, worker, warm);
          ops++;
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
          // A broken target answers at once: don't spin on it.
          if (errors > 100) return;
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { ops, seconds: elapsed, opsPerSecond: ops / elapsed, errors, firstError };
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const { op, close } =
    job.kind === 'lanfs-create'
      ? await lanfsOp(job)
      : job.kind === 'local-create'
        ? await localOp(job)
        : await httpOp(job);
  try {
    if (job.warmupSeconds > 0) await drive(job, op, job.warmupSeconds, job.maxOps, true);
    return await drive(job, op, job.seconds, job.maxOps, false);
  } finally {
    close();
  }
}

const job = JSON.parse(process.argv[2] ?? '{}') as LoadJob;
const result = await runLoad(job);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
