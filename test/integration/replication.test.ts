/**
 * Replication with real server processes on loopback (RELIABILITY A1–A5, B1–B6):
 * placement, versions sent to every holder, a primary that is down, deletes that
 * stay deleted, healing and surplus copies, create-if-absent across servers, and
 * the saved placement of a server restarted alone. Checks look at each server's
 * folder directly, not only through the API.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli, type ServerProcess } from '../harness/cli.ts';
import { startCluster, type ClusterOptions, type TestCluster } from '../harness/cluster.ts';
import { authenticatedConnection } from '../harness/raw-client.ts';
import { leftoverUploads } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'replication-test-key';

interface Node {
  id: number;
  data: string;
  server: ServerProcess;
}

interface Listed {
  name: string;
  version: number;
  sha256: string;
  primary: number;
  replicas: number[];
  available: boolean;
}

/** A cluster of `count` servers, and its servers as nodes (id, folder, process). */
async function cluster(
  t: TestContext,
  count: number,
  options: ClusterOptions = {},
): Promise<{ nodes: Node[]; servers: TestCluster }> {
  const servers = await startCluster(t, count, { key: KEY, ...options });
  const nodes = servers.servers.map((server, i) => ({
    id: servers.ids[i]!,
    data: servers.data(i),
    server,
  }));
  return { nodes, servers };
}

/** Server i started again on its folder (see TestCluster.restart), as a node. */
async function restart(servers: TestCluster, node: Node, env?: NodeJS.ProcessEnv): Promise<Node> {
  return { ...node, server: await servers.restart(servers.ids.indexOf(node.id), { env }) };
}

async function listed(node: Node): Promise<Listed[]> {
  const result = await runCli(['show', '--json', '--server', node.server.address], {
    env: { LANFS_KEY: KEY },
  });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Listed[];
}

function lanfs(
  node: Node,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
) {
  return runCli([...args, '--server', node.server.address], {
    input: options.input,
    env: { LANFS_KEY: KEY, ...options.env },
  });
}

async function bytesOn(node: Node, name: string): Promise<string | undefined> {
  return await readFile(join(node.data, name), 'utf8').catch(() => undefined);
}

async function holdersOnDisk(nodes: Node[], name: string): Promise<number[]> {
  const held = await Promise.all(
    nodes.map(async (n) => ((await stat(join(n.data, name)).catch(() => undefined)) ? n.id : 0)),
  );
  return held.filter((id) => id > 0);
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * A create over the raw protocol of `pieces` × 256 KiB whose END states another sha256;
 * the error code it gets (or the answer's type).
 */
async function createLying(node: Node, name: string, pieces: number): Promise<string> {
  const connection = await authenticatedConnection(node.server.port, KEY);
  try {
    const answer = new Promise<string>((resolve) => {
      connection.setHandler((m) => resolve(m.type === 'ERROR' ? m.body.code : m.type));
    });
    const piece = Buffer.alloc(256 * 1024, 7);
    connection.send('CREATE', 1, { name, size: pieces * piece.length, requestId: `lie-${name}` });
    for (let i = 0; i < pieces; i++) connection.sendData(1, piece);
    connection.send('END', 1, { size: pieces * piece.length, sha256: sha('not these bytes') });
    return await answer;
  } finally {
    connection.close();
  }
}

test('replication - a create is copied to the server with the fewest files, ties to the lower id', async (t) => {
  const { nodes } = await cluster(t, 3);
  const [one, two, three] = nodes as [Node, Node, Node];
  let result = await lanfs(one, ['create', 'first.txt'], { input: 'first\n' });
  assert.equal(result.code, 0, result.stderr);
  // Servers 2 and 3 both hold nothing: the lower id gets the copy, before the create is acknowledged.
  assert.equal(await bytesOn(two, 'first.txt'), 'first\n');
  assert.equal(await bytesOn(three, 'first.txt'), undefined);
  // Now server 2 holds one file and server 3 none: the next copy goes to 3.
  result = await lanfs(one, ['create', 'second.txt'], { input: 'second\n' });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await bytesOn(three, 'second.txt'), 'second\n');
  assert.equal(await bytesOn(two, 'second.txt'), undefined);
  const records = await waitFor(
    'placement listed',
    () => listed(three),
    (r) => r.length === 2 && r.every((x) => x.replicas.length === 1),
  );
  assert.deepEqual(
    records.map((r) => [r.name, r.primary, r.replicas]),
    [
      ['first.txt', 1, [2]],
      ['second.txt', 1, [3]],
    ],
  );
});

test('replication - an edit through a server without a copy reaches every holder', async (t) => {
  const { nodes } = await cluster(t, 3);
  const [one, two, three] = nodes as [Node, Node, Node];
  assert.equal((await lanfs(one, ['create', 'doc.txt'], { input: 'v1\n' })).code, 0);
  await waitFor(
    'server 3 sees doc.txt',
    () => listed(three),
    (r) => r.some((x) => x.name === 'doc.txt'),
  );
  const edited = await lanfs(three, ['edit', 'doc.txt', '-v'], {
    env: { EDITOR: `sh -c 'echo v2 > "$1"' editor` },
  });
  assert.equal(edited.code, 0, edited.stderr);
  assert.match(edited.stderr, /going to server 1/);
  assert.equal(await bytesOn(one, 'doc.txt'), 'v2\n');
  assert.equal(await bytesOn(two, 'doc.txt'), 'v2\n');
  assert.equal(await bytesOn(three, 'doc.txt'), undefined);
});

test('replication - with the primary down, download and edit go to a holder; the old primary catches up', async (t) => {
  const { nodes, servers } = await cluster(t, 3);
  const [one, two, three] = nodes as [Node, Node, Node];
  assert.equal((await lanfs(one, ['create', 'notes.txt'], { input: 'v1\n' })).code, 0);
  await one.server.kill9();
  await waitFor(
    'server 1 down on server 3',
    () => servers.upIds(2),
    (ids) => !ids.includes(1),
  );
  const got = await lanfs(three, ['download', 'notes.txt', '-o', '-']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, 'v1\n');
  const edited = await lanfs(three, ['edit', 'notes.txt'], {
    env: { EDITOR: `sh -c 'echo v2 > "$1"' editor` },
  });
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(await bytesOn(two, 'notes.txt'), 'v2\n');
  // Server 1 returns with version 1 and fetches version 2 before it serves the file again.
  const back = await restart(servers, one);
  await waitFor(
    'server 1 caught up',
    () => bytesOn(back, 'notes.txt'),
    (b) => b === 'v2\n',
    { timeoutMs: 10_000 },
  );
  const fromOne = await lanfs(back, ['download', 'notes.txt', '-o', '-']);
  assert.equal(fromOne.stdout, 'v2\n', fromOne.stderr);
  const record = (await listed(back)).find((r) => r.name === 'notes.txt');
  assert.equal(record?.version, 2);
  assert.equal(record?.sha256, sha('v2\n'));
});

test('replication - a delete while a holder is down does not come back when it returns', async (t) => {
  const { nodes, servers } = await cluster(t, 3);
  const [one, two, three] = nodes as [Node, Node, Node];
  assert.equal((await lanfs(one, ['create', 'gone.txt'], { input: 'bye\n' })).code, 0);
  assert.equal(await bytesOn(two, 'gone.txt'), 'bye\n');
  await two.server.stop();
  await waitFor(
    'server 2 down',
    () => servers.upIds(0),
    (ids) => !ids.includes(2),
  );
  assert.equal((await lanfs(one, ['delete', 'gone.txt'])).code, 0);
  const back = await restart(servers, two);
  await waitFor(
    'server 2 removed its copy',
    () => bytesOn(back, 'gone.txt'),
    (b) => b === undefined,
    { timeoutMs: 10_000 },
  );
  for (const node of [one, back, three]) {
    const names = (await listed(node)).map((r) => r.name);
    assert.deepEqual(names, [], `server ${node.id} lists ${names.join(', ')}`);
  }
  assert.equal((await lanfs(three, ['download', 'gone.txt', '-o', '-'])).code, 3);
});

test('replication - a holder gone past the grace period is replaced; when it returns the surplus copy goes', async (t) => {
  const { nodes, servers } = await cluster(t, 3, { args: ['--heal-after', '1000'] });
  const [one, two, three] = nodes as [Node, Node, Node];
  assert.equal((await lanfs(one, ['create', 'keep.txt'], { input: 'precious\n' })).code, 0);
  assert.deepEqual(await holdersOnDisk(nodes, 'keep.txt'), [1, 2]);
  await two.server.kill9();
  await waitFor(
    'a new copy on server 3',
    () => bytesOn(three, 'keep.txt'),
    (b) => b === 'precious\n',
    { timeoutMs: 15_000 },
  );
  const back = await restart(servers, two);
  await waitFor(
    'back to two copies',
    () => holdersOnDisk([one, back, three], 'keep.txt'),
    (ids) => ids.length === 2,
    { timeoutMs: 15_000 },
  );
  const record = await waitFor(
    'placement settled',
    () => listed(one),
    (r) => r[0]?.replicas.length === 1,
  );
  assert.equal(record[0]!.primary, 1);
});

test('replication - files found in a folder at start are brought up to the factor', async (t) => {
  const { nodes } = await cluster(t, 2, {
    seed: (data, i) =>
      i === 0 ? writeFile(join(data, 'found.txt'), 'was here first\n') : Promise.resolve(),
  });
  const [one, two] = nodes as [Node, Node];
  await waitFor(
    'a copy on server 2',
    () => bytesOn(two, 'found.txt'),
    (b) => b === 'was here first\n',
    { timeoutMs: 15_000 },
  );
  assert.ok(one.server.port > 0);
});

test('replication - two creates of one name at once on two servers: exactly one succeeds', async (t) => {
  const { nodes } = await cluster(t, 3);
  const [one, two, three] = nodes as [Node, Node, Node];
  for (let round = 0; round < 5; round++) {
    const name = `race-${round}.txt`;
    const [a, b] = await Promise.all([
      lanfs(one, ['create', name], { input: 'from one\n' }),
      lanfs(two, ['create', name], { input: 'from two\n' }),
    ]);
    const codes = [a.code, b.code].sort();
    assert.deepEqual(codes, [0, 4], `round ${round}: ${a.stderr} / ${b.stderr}`);
    const winner = a.code === 0 ? 'from one\n' : 'from two\n';
    const got = await lanfs(three, ['download', name, '-o', '-']);
    assert.equal(got.stdout, winner, got.stderr);
  }
});

test('replication - a server restarted alone still knows where its files are copied', async (t) => {
  const { nodes, servers } = await cluster(t, 2);
  const [one, two] = nodes as [Node, Node];
  assert.equal((await lanfs(one, ['create', 'both.txt'], { input: 'x\n' })).code, 0);
  await one.server.kill9();
  await two.server.kill9();
  const alone = await restart(servers, one);
  const records = await listed(alone);
  assert.deepEqual(
    records.map((r) => [r.name, r.primary, r.replicas]),
    [['both.txt', 1, [2]]],
  );
  assert.deepEqual(await leftoverUploads(alone.data), []);
});

test('replication - kill -9 of the copy holder during a copy: the create still holds and the copy is made again', async (t) => {
  const { nodes, servers } = await cluster(t, 2, {
    env: (i) => (i === 1 ? { LANFS_CRASH_POINT: 'create-after-link' } : {}),
  });
  const [one, two] = nodes as [Node, Node];
  // Larger than what goes into the journal inline: the copy is linked into place, where
  // the crash point is.
  const body = 'kept\n'.repeat(40_000);
  const created = await lanfs(one, ['create', 'survivor.txt'], { input: body });
  assert.equal(created.code, 0, created.stderr);
  assert.equal(await two.server.exited, null, 'the copy holder died at the crash point');
  const back = await restart(servers, two, {}); // without the crash point this time
  await waitFor(
    'the file copied again and listed once',
    () => listed(back),
    (r) => r.length === 1 && r[0]!.replicas.length === 1,
    { timeoutMs: 15_000 },
  );
  assert.equal(await bytesOn(back, 'survivor.txt'), body);
  assert.equal(await bytesOn(one, 'survivor.txt'), body);
  assert.deepEqual(await leftoverUploads(back.data), []);
});

test("replication - a large create whose bytes do not match the client's sha256 is refused, and stored on neither server", async (t) => {
  const { nodes } = await cluster(t, 2);
  const [one, two] = nodes as [Node, Node];
  // Past what the journal holds inline: the primary leaves the hash to its copy, whose
  // sha256 (of the right bytes) does not match the client's, so it reads its own back.
  assert.equal(await createLying(one, 'liar.bin', 12), 'LANFS_ERR_CHECKSUM_MISMATCH');
  assert.deepEqual(await holdersOnDisk(nodes, 'liar.bin'), []);
  await waitFor(
    'no upload left on either server',
    async () => [...(await leftoverUploads(one.data)), ...(await leftoverUploads(two.data))],
    (left) => left.length === 0,
  );
  // The same name, right bytes: stored on both (so the copy was streaming above too).
  const body = 'honest\n'.repeat(200_000);
  const created = await lanfs(one, ['create', 'liar.bin'], { input: body });
  assert.equal(created.code, 0, created.stderr);
  assert.deepEqual(await holdersOnDisk(nodes, 'liar.bin'), [one.id, two.id]);
  assert.equal(await bytesOn(two, 'liar.bin'), body);
  assert.equal((await listed(two)).find((r) => r.name === 'liar.bin')?.sha256, sha(body));
});

test('replication - a large create whose copy fails midway is checked by the primary itself, and stands', async (t) => {
  // The copy holder takes files of at most 1 MB: the copy of a 3 MB file fails midway,
  // so no copy can vouch for the primary's bytes, which it then reads back and hashes.
  const { nodes } = await cluster(t, 2, {
    args: (i) => (i === 1 ? ['--max-file-size', '1000000'] : []),
  });
  const [one, two] = nodes as [Node, Node];
  const body = 'checked here\n'.repeat(240_000);
  const created = await lanfs(one, ['create', 'alone.txt'], { input: body });
  assert.equal(created.code, 0, created.stderr);
  assert.equal(await bytesOn(one, 'alone.txt'), body);
  assert.equal(await bytesOn(two, 'alone.txt'), undefined);
  const record = (await listed(one)).find((r) => r.name === 'alone.txt');
  assert.equal(record?.sha256, sha(body));
  assert.deepEqual(record?.replicas, []);
  // A client that lies about the sha256 is still refused with no copy to ask.
  assert.equal(await createLying(one, 'liar.bin', 8), 'LANFS_ERR_CHECKSUM_MISMATCH');
  assert.deepEqual(await holdersOnDisk(nodes, 'liar.bin'), []);
});

test('replication - two different files under one name found at start: one keeps the name, the other is kept as a conflict', async (t) => {
  const { nodes } = await cluster(t, 2, {
    seed: async (data, i) => {
      await writeFile(join(data, 'clash.txt'), `version of server ${i === 0 ? 'one' : 'two'}\n`);
      await writeFile(join(data, 'same.txt'), 'identical\n');
    },
  });
  const [one, two] = nodes as [Node, Node];
  const settled = await waitFor(
    'one name each, a conflict copy kept',
    () => listed(one),
    (r) => r.length === 3 && r.every((x) => x.replicas.length === 1),
    { timeoutMs: 20_000 },
  );
  const names = settled.map((r) => r.name);
  assert.ok(names.includes('clash.txt') && names.includes('same.txt'), names.join(', '));
  const conflict = settled.find((r) => r.name.startsWith('clash.conflict-'));
  assert.ok(conflict, names.join(', '));
  // The file first created on the lower id keeps the name; no bytes are lost.
  assert.equal(
    (await lanfs(two, ['download', 'clash.txt', '-o', '-'])).stdout,
    'version of server one\n',
  );
  assert.equal(
    (await lanfs(two, ['download', conflict.name, '-o', '-'])).stdout,
    'version of server two\n',
  );
  assert.equal((await lanfs(one, ['download', 'same.txt', '-o', '-'])).stdout, 'identical\n');
  const status = await lanfs(one, ['status']);
  assert.match(status.stdout, /conflict/i);
});
