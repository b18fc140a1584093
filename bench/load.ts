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
 *   http-put      PUT 4 KiB to BASE/PREFIXf<i> (nginx WebDAV and lanfs /files, /dav and S3 alike);
 *   http-get      GET BASE/PREFIXf<i mod files>, the body read to the end;
 *   lanfs-create  LanfsClient.create over the lanfs protocol, one connection per worker;
 *   lanfs-read    LanfsClient.download of PREFIXf<i mod files> into memory, the same way;
 *   local-create  write + fsync + close + rename of a new file in a local folder;
 *   file-write    open + write + close of a new file in a folder (no fsync: what `cp` does,
 *                 the way a program writes to a mounted file system such as GlusterFS);
 *   file-read     read PREFIXf<i mod files> of a folder to the end.
 *
 * HTTP goes through one `http.Agent({ keepAlive: true, maxSockets: workers })`.
 * With `s3: true` each request is signed with Signature V4 by AWS's own signer
 * (@smithy/signature-v4, UNSIGNED-PAYLOAD, as rclone sends), access key `lanfs`
 * and the key as secret.
 */
import { createHash, createHmac, randomFillSync, type Hash, type Hmac } from 'node:crypto';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import { LanfsClient } from '../src/client/client.ts';

export interface LoadJob {
  kind:
    | 'http-put'
    | 'http-get'
    | 'lanfs-create'
    | 'lanfs-read'
    | 'local-create'
    | 'file-write'
    | 'file-read';
  /** http-*: e.g. http://127.0.0.1:8080/files/; lanfs-create: host:port; local-create: a folder. */
  target: string;
  /** Prepended to every name; must be new for each create job. */
  prefix: string;
  workers: number;
  seconds: number;
  warmupSeconds: number;
  maxOps: number;
  bytes: number;
  /** http-get, lanfs-read, file-read: how many files PREFIXf0… exist. */
  files?: number;
  /** http-*: sent as Authorization: Bearer; lanfs-create: the cluster key. */
  key?: string;
  /** http-*: sign as an S3 client (the key is the secret) instead of Bearer. */
  s3?: boolean;
}

/**
 * SHA-256 for AWS's signer from node:crypto (its default is pure JavaScript, which
 * would make the load tool, not the server, the slow end of the S3 rows).
 */
class NodeSha256 {
  readonly #secret: Buffer | undefined;
  #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#secret = secret === undefined ? undefined : bytesOf(secret);
    this.#hash = this.#fresh();
  }
  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  reset(): void {
    this.#hash = this.#fresh();
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }
}

function bytesOf(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** Headers that make an S3 request of it, signed the way AWS SDKs sign. */
async function s3Headers(
  signer: SignatureV4,
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string | number>,
): Promise<Record<string, string>> {
  const signed = await signer.sign({
    method,
    protocol: 'http:',
    hostname: base.hostname,
    port: Number(base.port),
    path,
    headers: {
      ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
      host: base.host,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    },
  });
  return signed.headers;
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
  const auth: Record<string, string> =
    job.key && !job.s3 ? { Authorization: `Bearer ${job.key}` } : {};
  const signer = job.s3
    ? new SignatureV4({
        credentials: { accessKeyId: 'lanfs', secretAccessKey: job.key ?? '' },
        region: 'us-east-1',
        service: 's3',
        sha256: NodeSha256,
        uriEscapePath: false,
      })
    : undefined;
  const put = job.kind === 'http-put';
  const op: Op = async (i, _worker, warm) => {
    const name = put
      ? `${job.prefix}${warm ? 'w' : 'f'}${i}`
      : `${job.prefix}f${i % Math.max(1, job.files ?? 1)}`;
    const method = put ? 'PUT' : 'GET';
    const path = `${base.pathname}${name}`;
    const plain: Record<string, string | number> = put
      ? { ...auth, 'Content-Length': job.bytes, 'Content-Type': 'application/octet-stream' }
      : auth;
    const headers = signer ? await s3Headers(signer, base, method, path, plain) : plain;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { agent, host: base.hostname, port: base.port, method, path, headers },
        (res) => {
          const status = res.statusCode ?? 0;
          let received = 0;
          res.on('data', (chunk: Buffer) => (received += chunk.length));
          res.on('error', reject);
          res.on('end', () => {
            // 201/204 from WebDAV PUTs, 200 from S3 PutObject.
            if (put ? status !== 200 && status !== 201 && status !== 204 : status !== 200)
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
  };
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
  const create: Op = async (i, worker, warm) => {
    await clients[worker]!.create(`${job.prefix}${warm ? 'w' : 'f'}${i}`, [body], {
      size: job.bytes,
    });
  };
  const read: Op = async (i, worker) => {
    const name = `${job.prefix}f${i % Math.max(1, job.files ?? 1)}`;
    let received = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        done();
      },
    });
    await clients[worker]!.download(name, sink);
    if (received !== job.bytes) throw new Error(`${name}: ${received} bytes, not ${job.bytes}`);
  };
  return {
    op: job.kind === 'lanfs-read' ? read : create,
    close: () => clients.forEach((c) => c.close()),
  };
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

async function fileOp(job: LoadJob): Promise<{ op: Op; close: () => void }> {
  const body = randomFillSync(Buffer.alloc(job.bytes));
  const write: Op = async (i, _worker, warm) => {
    await writeFile(join(job.target, `${job.prefix}${warm ? 'w' : 'f'}${i}`), body);
  };
  const read: Op = async (i) => {
    const name = `${job.prefix}f${i % Math.max(1, job.files ?? 1)}`;
    const bytes = await readFile(join(job.target, name));
    if (bytes.length !== job.bytes)
      throw new Error(`${name}: ${bytes.length} bytes, not ${job.bytes}`);
  };
  return await Promise.resolve({
    op: job.kind === 'file-read' ? read : write,
    close: () => undefined,
  });
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
    job.kind === 'lanfs-create' || job.kind === 'lanfs-read'
      ? await lanfsOp(job)
      : job.kind === 'local-create'
        ? await localOp(job)
        : job.kind === 'file-write' || job.kind === 'file-read'
          ? await fileOp(job)
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
