/**
 * kill -9 at each step of the journal (RELIABILITY A1/A2) while eight clients
 * create, edit and delete at once: before an entry is appended, after it is
 * written but before its flush, after the flush but before the plain file is
 * written, and in the middle of a checkpoint (after the files are flushed, after
 * the snapshot is written). Checkpoints are made frequent with a small journal
 * bound. After a restart every acknowledged change must be there with its bytes
 * and sha256, the one change in flight per name may or may not be, nothing
 * deleted and acknowledged comes back, and nothing torn is listed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import type { FileRecord } from '../../src/protocol/messages.ts';
import type { CrashPoint } from '../../src/shared/crash-points.ts';
import { startServer } from '../harness/cli.ts';
import { exportedFiles, leftoverUploads, tempDir } from '../harness/tmp-dir.ts';

const KEY = 'journal-crash-key';
const credentials = { key: KEY, insecure: false, cluster: 'lanfs' };
const WORKERS = 8;
const NAMES_PER_WORKER = 4;
/** Bounds on the run before the crash: it stops at whichever comes first. */
const MAX_OPS_PER_WORKER = 200;
const MAX_RUN_MS = 30_000;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What a name may hold after the crash: its last acknowledged state, or the one in flight. */
interface Expectation {
  acked: string | null; // sha256, or null for "no file"
  maybe?: string | null;
}

function content(): Buffer {
  // Mostly small files (their bytes go into the journal), now and then a large one.
  const size =
    Math.random() < 0.1
      ? 80_000 + Math.floor(Math.random() * 40_000)
      : 1 + Math.floor(Math.random() * 3000);
  return randomBytes(size);
}

async function worker(
  client: LanfsClient,
  w: number,
  expect: Map<string, Expectation>,
  deadline: number,
): Promise<number> {
  const versions = new Map<string, number>();
  for (let op = 0; op < MAX_OPS_PER_WORKER && Date.now() < deadline; op++) {
    const name = `w${w}/f${Math.floor(Math.random() * NAMES_PER_WORKER)}.bin`;
    const state = expect.get(name) ?? { acked: null };
    expect.set(name, state);
    const bytes = content();
    try {
      if (state.acked === null) {
        state.maybe = sha(bytes);
        const record = await client.create(name, [bytes], { size: bytes.length });
        versions.set(name, record.version);
        state.acked = record.sha256;
      } else if (Math.random() < 0.7) {
        state.maybe = sha(bytes);
        const record = await client.edit(name, versions.get(name)!, [bytes], {
          size: bytes.length,
        });
        versions.set(name, record.version);
        state.acked = record.sha256;
      } else {
        state.maybe = null;
        await client.delete(name);
        state.acked = null;
      }
      delete state.maybe;
    } catch {
      return op; // the server died: this name's change stays "maybe"
    }
  }
  return MAX_OPS_PER_WORKER;
}

async function download(client: LanfsClient, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await client.download(name, sink);
  return Buffer.concat(chunks);
}

async function crashUnderLoad(t: TestContext, point: CrashPoint, skip: number): Promise<void> {
  const data = await tempDir(t);
  const env = {
    LANFS_CRASH_POINT: point,
    LANFS_CRASH_SKIP: String(skip),
    LANFS_CHECKPOINT_BYTES: '65536',
  };
  const server = await startServer(t, ['--data', data, '--id', '1', '--key', KEY], env);
  const client = await LanfsClient.connect({
    servers: [server.address],
    credentials,
    connectTimeoutMs: 1000,
  });
  const expect = new Map<string, Expectation>();
  const deadline = Date.now() + MAX_RUN_MS;
  const ops = await Promise.all(
    Array.from({ length: WORKERS }, (_, w) => worker(client, w, expect, deadline)),
  );
  client.close();
  assert.equal(
    await server.exited,
    null,
    `the server died at ${point} (after ${ops.join('+')} ops)`,
  );

  const restarted = await startServer(t, ['--data', data, '--key', KEY]);
  const reader = await LanfsClient.connect({ servers: [restarted.address], credentials });
  t.after(() => reader.close());
  const listed = new Map<string, FileRecord>((await reader.list()).map((r) => [r.name, r]));
  for (const [name, state] of expect) {
    const record = listed.get(name);
    const now = record ? record.sha256 : null;
    const allowed = [state.acked, ...('maybe' in state ? [state.maybe] : [])];
    assert.ok(
      allowed.includes(now),
      `${name}: after the crash it is ${now ?? 'absent'}; acknowledged ${state.acked ?? 'absent'}${'maybe' in state ? `, in flight ${state.maybe ?? 'delete'}` : ''}`,
    );
  }
  for (const record of listed.values()) {
    assert.ok(expect.has(record.name), `${record.name} was never written`);
    const bytes = await download(reader, record.name);
    assert.equal(bytes.length, record.size, `${record.name} is whole`);
    assert.equal(sha(bytes), record.sha256, `${record.name} has the bytes of its record`);
  }
  assert.deepEqual(await leftoverUploads(data), [], 'no partial upload survives a restart');
  const onDisk = await exportedFiles(data);
  assert.deepEqual(
    onDisk,
    [...listed.keys()].sort(),
    'every file on disk is listed, and only those',
  );
  await restarted.stop();
}

// Each point lets the busy run pass it a number of times first, so the crash hits
// with other changes in flight around it.
const points: [CrashPoint, number][] = [
  ['journal-before-append', 40],
  ['journal-after-append', 40],
  ['journal-after-fsync', 40],
  ['checkpoint-after-flush', 2],
  ['checkpoint-after-snapshot', 2],
];

for (const [point, skip] of points) {
  test(`journal crash - kill -9 at ${point} under concurrent creates, edits and deletes loses nothing acknowledged`, async (t) => {
    await crashUnderLoad(t, point, skip);
  });
}
