/**
 * Clients finish their request when their server dies (SPEC §2.3, RELIABILITY
 * C1–C4): kill -9 of the server during a large download, a large create, a
 * listing and an edit upload; each ends with the right bytes and exactly one
 * effect. With every server down the client says so (exit 5) in bounded time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { runCli, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'failover-test-key';
const credentials = { key: KEY, insecure: false, cluster: 'lanfs' };
const MIB = 1024 * 1024;

/** Two servers that see each other, and a client that knows both. */
async function pair(
  t: TestContext,
): Promise<{ one: ServerProcess; two: ServerProcess; client: LanfsClient; moves: string[] }> {
  const { servers } = await startCluster(t, 2, { key: KEY });
  const [one, two] = servers as [ServerProcess, ServerProcess];
  const moves: string[] = [];
  const client = await LanfsClient.connect({
    servers: [one.address, two.address],
    credentials,
    onFailover: (line) => moves.push(line),
  });
  t.after(() => client.close());
  return { one, two, client, moves };
}

/** size bytes of varied content, generated as they are read; calls onChunk after each chunk. */
function* generated(
  size: number,
  onChunk: (sent: number) => void = () => undefined,
): Generator<Buffer> {
  for (let sent = 0, n = 0; sent < size; n++) {
    const chunk = Buffer.alloc(Math.min(MIB, size - sent), n % 251);
    chunk.writeUInt32BE(n, 0);
    sent += chunk.length;
    yield chunk;
    onChunk(sent);
  }
}

function sha(size: number): string {
  const hash = createHash('sha256');
  for (const chunk of generated(size)) hash.update(chunk);
  return hash.digest('hex');
}

test('failover - kill -9 during a large download: it resumes on the other holder and checks out', async (t) => {
  const { one, client, moves } = await pair(t);
  const size = 64 * MIB;
  await client.create('big.bin', () => generated(size), { size });
  const hash = createHash('sha256');
  let received = 0;
  let killed = false;
  const sink = new Writable({
    highWaterMark: MIB,
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      if (!killed && received > 8 * MIB) {
        killed = true;
        void one.kill9().then(() => callback());
        return;
      }
      callback();
    },
  });
  const record = await client.download('big.bin', sink);
  assert.ok(killed);
  assert.equal(received, size);
  assert.equal(hash.digest('hex'), sha(size));
  assert.equal(record.sha256, sha(size));
  assert.match(moves.join('\n'), /Server 1 at .* stopped answering.*continuing on server 2/);
});

test('failover - kill -9 during a large create: sent again to the other server, one file', async (t) => {
  const { one, two, client } = await pair(t);
  const size = 48 * MIB;
  let killed = false;
  const record = await client.create(
    'made.bin',
    () =>
      generated(size, (sent) => {
        if (!killed && sent >= 16 * MIB) {
          killed = true;
          void one.kill9();
        }
      }),
    { size },
  );
  assert.ok(killed);
  assert.equal(record.sha256, sha(size));
  assert.equal(record.version, 1);
  const listed = await runCli(['show', '--json', '--server', two.address], {
    env: { LANFS_KEY: KEY },
  });
  const files = JSON.parse(listed.stdout) as { name: string; version: number; sha256: string }[];
  assert.deepEqual(
    files.map((f) => [f.name, f.version, f.sha256]),
    [['made.bin', 1, sha(size)]],
  );
});

test('failover - the listing and an edit upload finish on the other server, with exactly one new version', async (t) => {
  const { one, two, client } = await pair(t);
  await client.create('doc.txt', [Buffer.from('v1\n')]);
  await waitFor(
    'the copy on server 2',
    () => runCli(['show', '--json', '--server', two.address], { env: { LANFS_KEY: KEY } }),
    (r) => r.stdout.includes('doc.txt'),
  );
  let killed = false;
  const size = 24 * MIB;
  const edited = await client.edit(
    'doc.txt',
    1,
    () =>
      generated(size, (sent) => {
        if (!killed && sent >= 8 * MIB) {
          killed = true;
          void one.kill9();
        }
      }),
    { size },
  );
  assert.ok(killed);
  assert.equal(edited.version, 2);
  const files = await client.list();
  assert.deepEqual(
    files.map((f) => [f.name, f.version]),
    [['doc.txt', 2]],
  );
  assert.equal(files[0]!.sha256, sha(size));
});

test('failover - a listing after the server died goes to the other one', async (t) => {
  const { one, client } = await pair(t);
  await client.create('a.txt', [Buffer.from('a')]);
  await one.kill9();
  const files = await client.list();
  assert.deepEqual(
    files.map((f) => f.name),
    ['a.txt'],
  );
  assert.equal(client.serverId, 2);
});

test('failover - a create whose server died after storing it, before answering, is not made twice', async (t) => {
  const cluster = await startCluster(t, 2, {
    key: KEY,
    env: (i) => (i === 0 ? { LANFS_CRASH_POINT: 'create-after-record' } : {}),
  });
  const [one, two] = cluster.servers as [ServerProcess, ServerProcess];
  const created = await runCli(
    ['create', 'once.txt', '--server', `${one.address},${two.address}`],
    { env: { LANFS_KEY: KEY }, input: '' },
  );
  // stdin cannot be read twice: the CLI says so rather than guess.
  assert.notEqual(created.code, 0);
  const { writeFile } = await import('node:fs/promises');
  const path = `${await tempDir(t)}/once.txt`;
  await writeFile(path, 'exactly once\n');
  const again = await runCli(
    ['create', 'twice.txt', '--from', path, '--server', `${two.address}`],
    { env: { LANFS_KEY: KEY } },
  );
  assert.equal(again.code, 0, again.stderr);
  // Server 1 comes back with once.txt it stored but never acknowledged: listed once, readable.
  const back = await cluster.restart(0, { env: {} });
  const files = await waitFor(
    'one listing',
    () => runCli(['show', '--json', '--server', back.address], { env: { LANFS_KEY: KEY } }),
    (r) => r.stdout.includes('twice.txt'),
  );
  const names = (JSON.parse(files.stdout) as { name: string }[]).map((f) => f.name).sort();
  assert.equal(names.filter((n) => n === 'twice.txt').length, 1);
});

test('failover - with every server down the client says so (exit 5) within 15 s', async (t) => {
  const { one, two } = await pair(t);
  await one.kill9();
  await two.kill9();
  const started = Date.now();
  const result = await runCli(['show', '--server', `${one.address},${two.address}`], {
    env: { LANFS_KEY: KEY },
  });
  const took = Date.now() - started;
  assert.equal(result.code, 5, result.stderr);
  assert.match(result.stderr, /No lanfs server answered/);
  assert.ok(took < 15_000, `took ${took} ms`);
});
