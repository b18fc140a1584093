/**
 * Several real server processes on loopback (multicast on 127.0.0.1, a group of
 * the test's own): discovery with no --peers, the single system image, redirects,
 * servers that must stay out, membership (down and back), duplicate ids, --peers
 * with gossip, and members remembered across a restart.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli, startServer, uniqueGroup, type ServerProcess } from '../harness/cli.ts';
import { startCluster, type ClusterOptions, type TestCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'cluster-test-key';

interface Status {
  servers: { id: number; address: string; up: boolean; files: number }[];
}

async function statusOf(server: ServerProcess, env: NodeJS.ProcessEnv = {}): Promise<Status> {
  const result = await runCli(['status', '--json', '--server', server.address], {
    env: { LANFS_KEY: KEY, ...env },
  });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Status;
}

async function namesOn(server: ServerProcess): Promise<string[]> {
  const result = await runCli(['show', '--json', '--server', server.address], {
    env: { LANFS_KEY: KEY },
  });
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { name: string }[]).map((r) => r.name).sort();
}

/** A file of server `id`'s own, in its folder before it starts. */
async function ownFile(data: string, id: number): Promise<void> {
  await mkdir(join(data, `from-${id}`));
  await writeFile(join(data, `from-${id}`, 'hello.txt'), `hello from server ${id}\n`);
}

/**
 * `n` servers, each with one file of its own already in its folder. One copy per
 * file (--replicas 1): these tests are about the image and redirects;
 * replication.test.ts is about copies.
 */
async function clusterWithFiles(
  t: TestContext,
  n: number,
  options: ClusterOptions = {},
): Promise<TestCluster> {
  return await startCluster(t, n, {
    key: KEY,
    args: ['--replicas', '1'],
    seed: (data, i) => ownFile(data, options.ids?.[i] ?? i + 1),
    ...options,
  });
}

/**
 * Server `id` on `group` with its own file, started alone: for the tests where
 * servers must not simply find each other (other args per server, --peers).
 */
async function serverWithFile(
  t: TestContext,
  id: number,
  group: string,
  extra: string[] = [],
): Promise<{ server: ServerProcess; data: string }> {
  const data = await tempDir(t);
  await ownFile(data, id);
  const server = await startServer(t, [
    '--data',
    data,
    '--id',
    String(id),
    '--key',
    KEY,
    '--group',
    group,
    '--replicas',
    '1',
    ...extra,
  ]);
  return { server, data };
}

test('cluster - three servers found by multicast alone show one full list from each', async (t) => {
  const { servers } = await clusterWithFiles(t, 3);
  const all = ['from-1/hello.txt', 'from-2/hello.txt', 'from-3/hello.txt'];
  for (const server of servers) {
    await waitFor(
      `the full list on ${server.address}`,
      () => namesOn(server),
      (names) => JSON.stringify(names) === JSON.stringify(all),
      { timeoutMs: 5000 },
    );
  }
  const status = await statusOf(servers[0]!);
  assert.deepEqual(
    status.servers.map((s) => [s.id, s.up, s.files]),
    [
      [1, true, 1],
      [2, true, 1],
      [3, true, 1],
    ],
  );

  // A create on one server appears on the others.
  const created = await runCli(['create', 'fresh.txt', '--server', servers[1]!.address], {
    env: { LANFS_KEY: KEY },
    input: 'new\n',
  });
  assert.equal(created.code, 0, created.stderr);
  await waitFor(
    'the new file on server 3',
    () => namesOn(servers[2]!),
    (names) => names.includes('fresh.txt'),
    { timeoutMs: 3000 },
  );

  // A name that exists on another server cannot be created here.
  const taken = await runCli(['create', 'from-2/hello.txt', '--server', servers[0]!.address], {
    env: { LANFS_KEY: KEY },
    input: 'x',
  });
  assert.equal(taken.code, 4, taken.stderr);
});

test('cluster - a client pinned to a server without the file downloads, edits and deletes it', async (t) => {
  const cluster = await clusterWithFiles(t, 2);
  await waitFor(
    'server 1 to see the file of server 2',
    () => namesOn(cluster.servers[0]!),
    (names) => names.includes('from-2/hello.txt'),
  );
  const env = cluster.env(0);

  const got = await runCli(['download', 'from-2/hello.txt', '-o', '-', '-v'], { env });
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, 'hello from server 2\n');
  assert.match(got.stderr, /going to server 2 at/);

  const edited = await runCli(['edit', 'from-2/hello.txt'], {
    env: { ...env, EDITOR: `sh -c 'echo edited >> "$1"' editor` },
  });
  assert.equal(edited.code, 0, edited.stderr);
  assert.match(edited.stdout, /version 2/);
  assert.equal(
    await readFile(join(cluster.data(1), 'from-2', 'hello.txt'), 'utf8'),
    'hello from server 2\nedited\n',
  );

  const deleted = await runCli(['delete', 'from-2/hello.txt'], { env });
  assert.equal(deleted.code, 0, deleted.stderr);
  await waitFor(
    'the delete to reach server 1',
    () => namesOn(cluster.servers[0]!),
    (names) => !names.includes('from-2/hello.txt'),
    { timeoutMs: 3000 },
  );
  assert.equal((await runCli(['download', 'from-2/hello.txt', '-o', '-'], { env })).code, 3);
});

test('cluster - servers of another cluster name or key on the same group stay out', async (t) => {
  const { group, servers } = await clusterWithFiles(t, 1);
  const otherData = await tempDir(t);
  await startServer(t, [
    '--data',
    otherData,
    '--id',
    '2',
    '--key',
    KEY,
    '--cluster',
    'elsewhere',
    '--group',
    group,
  ]);
  const wrongKeyData = await tempDir(t);
  await startServer(t, [
    '--data',
    wrongKeyData,
    '--id',
    '3',
    '--key',
    'not-the-key',
    '--group',
    group,
  ]);
  await new Promise((r) => setTimeout(r, 2500)); // several announcement rounds
  const status = await statusOf(servers[0]!);
  assert.deepEqual(
    status.servers.map((s) => s.id),
    [1],
  );
});

test('cluster - a killed server is marked down within 3 s and comes back when restarted', async (t) => {
  const cluster = await clusterWithFiles(t, 2);
  const one = cluster.servers[0]!;
  await cluster.kill(1);
  const killedAt = Date.now();
  await waitFor(
    'server 2 down on server 1',
    () => statusOf(one),
    (s) => s.servers.some((m) => m.id === 2 && !m.up),
    { timeoutMs: 5000 },
  );
  const tookMs = Date.now() - killedAt;
  t.diagnostic(`marked down after ${tookMs} ms`);
  // Its file is still listed, as unavailable, and a download says why.
  const shown = await runCli(['show', '--json'], { env: cluster.env(0) });
  const record = (JSON.parse(shown.stdout) as { name: string; available: boolean }[]).find(
    (r) => r.name === 'from-2/hello.txt',
  );
  assert.equal(record?.available, false);
  const refused = await runCli(['download', 'from-2/hello.txt', '-o', '-'], {
    env: cluster.env(0),
  });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /held by server 2, which is down/);

  const back = await cluster.restart(1);
  await waitFor(
    'server 2 back up',
    () => statusOf(one),
    (s) => s.servers.some((m) => m.id === 2 && m.up),
    { timeoutMs: 5000 },
  );
  const again = await runCli(['download', 'from-2/hello.txt', '-o', '-'], {
    env: cluster.env(0),
  });
  assert.equal(again.stdout, 'hello from server 2\n', again.stderr);
  assert.ok(back.port > 0);
});

test('cluster - a second live server with the same id is refused with a clear error', async (t) => {
  const { group } = await clusterWithFiles(t, 1);
  const data = await tempDir(t);
  const result = await runCli([
    'server',
    '--data',
    data,
    '--id',
    '1',
    '--key',
    KEY,
    '--group',
    group,
    '--interface',
    '127.0.0.1',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
  ]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /Server id 1 is already used by a live server/);
});

test('cluster - without multicast, --peers and gossip join everyone, and members are remembered', async (t) => {
  const off = ['--no-multicast'];
  const one = await serverWithFile(t, 1, uniqueGroup(), off);
  const two = await serverWithFile(t, 2, uniqueGroup(), [...off, '--peers', one.server.address]);
  const three = await serverWithFile(t, 3, uniqueGroup(), [...off, '--peers', two.server.address]);
  const all = ['from-1/hello.txt', 'from-2/hello.txt', 'from-3/hello.txt'];
  for (const { server } of [one, two, three]) {
    await waitFor(
      `the full list on ${server.address}`,
      () => namesOn(server),
      (names) => JSON.stringify(names) === JSON.stringify(all),
      { timeoutMs: 6000 },
    );
  }
  // Server 3 restarts with neither multicast nor --peers: it dials the members it saved.
  await three.server.stop();
  const again = await startServer(t, [
    '--data',
    three.data,
    '--key',
    KEY,
    '--replicas',
    '1',
    ...off,
  ]);
  await waitFor(
    'server 3 back in the mesh',
    () => namesOn(again),
    (names) => JSON.stringify(names) === JSON.stringify(all),
    { timeoutMs: 6000 },
  );
});

test('cluster - a client finds a server by asking the multicast group', async (t) => {
  const { group } = await clusterWithFiles(t, 1, { ids: [4] });
  const result = await runCli(['show', '-v'], { env: { LANFS_KEY: KEY, LANFS_GROUP: group } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /Found 1 server by multicast/);
  assert.match(result.stdout, /from-4\/hello\.txt/);
  const wrongKey = await runCli(['show'], { env: { LANFS_KEY: 'wrong', LANFS_GROUP: group } });
  assert.equal(wrongKey.code, 7, wrongKey.stderr);
  const nobody = await runCli(['show'], { env: { LANFS_KEY: KEY, LANFS_GROUP: uniqueGroup() } });
  assert.equal(nobody.code, 5, nobody.stderr);
  assert.match(nobody.stderr, /No lanfs server answered on/);
});

test('cluster - a frozen server (SIGSTOP, sockets still open) is marked down by its silence, then back', async (t) => {
  const cluster = await clusterWithFiles(t, 2);
  const [one, two] = cluster.servers as [ServerProcess, ServerProcess];
  two.child.kill('SIGSTOP');
  t.after(() => two.child.kill('SIGCONT'));
  const frozenAt = Date.now();
  await waitFor(
    'server 2 down on server 1',
    () => statusOf(one),
    (s) => s.servers.some((m) => m.id === 2 && !m.up),
    { timeoutMs: 6000 },
  );
  const tookMs = Date.now() - frozenAt;
  t.diagnostic(`marked down after ${tookMs} ms`);
  two.child.kill('SIGCONT');
  await waitFor(
    'server 2 back up',
    () => statusOf(one),
    (s) => s.servers.some((m) => m.id === 2 && m.up),
    { timeoutMs: 6000 },
  );
});

test('cluster - a server restarted while the others are down keeps listing their files (as unavailable) until each is back with its own list', async (t) => {
  const cluster = await clusterWithFiles(t, 3);
  const listed = async (i: number): Promise<{ name: string; available: boolean }[]> => {
    const result = await runCli(['show', '--json'], { env: cluster.env(i) });
    if (result.code !== 0) throw new Error(result.stderr);
    return (JSON.parse(result.stdout) as { name: string; available: boolean }[]).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
  };
  // A file deleted while server 2 listens: no kept copy may bring it back.
  const made = await runCli(['create', 'from-3/gone.txt'], { env: cluster.env(2), input: 'x\n' });
  assert.equal(made.code, 0, made.stderr);
  await waitFor(
    'from-3/gone.txt on server 2',
    () => listed(1),
    (files) => files.some((f) => f.name === 'from-3/gone.txt'),
  );
  const deleted = await runCli(['delete', 'from-3/gone.txt'], { env: cluster.env(2) });
  assert.equal(deleted.code, 0, deleted.stderr);
  await waitFor(
    'from-3/gone.txt gone on server 2',
    () => listed(1),
    (files) => files.length === 3,
  );
  await cluster.stop(0);
  await cluster.stop(2);
  await cluster.stop(1);
  // While server 1 is down its folder changes: its list, once back, must win over the kept one.
  await rm(join(cluster.data(0), 'from-1', 'hello.txt'));
  await writeFile(join(cluster.data(0), 'from-1', 'new.txt'), 'new\n');

  await cluster.restart(1);
  const shown = async (): Promise<string[]> =>
    (await listed(1)).map((f) => `${f.name} ${f.available ? 'available' : 'unavailable'}`);
  assert.deepEqual(await shown(), [
    'from-1/hello.txt unavailable',
    'from-2/hello.txt available',
    'from-3/hello.txt unavailable',
  ]);
  await cluster.restart(0);
  await waitFor(
    "server 1's own list on server 2",
    shown,
    (files) =>
      JSON.stringify(files) ===
      JSON.stringify([
        'from-1/new.txt available',
        'from-2/hello.txt available',
        'from-3/hello.txt unavailable',
      ]),
  );
});
