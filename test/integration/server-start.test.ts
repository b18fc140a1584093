/**
 * How a server starts next to others on one machine (issue 11): a data folder
 * is used by one process at a time, and a server never takes itself, or a peer
 * whose link it is still opening, for another server with its id.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { LanfsServer } from '../../src/server/server.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import { Connection } from '../../src/transport/connection.ts';
import { dialConnection } from '../../src/transport/dial.ts';
import { acceptHandshake, dialHandshake } from '../../src/transport/handshake.ts';
import { runCli, startServer, uniqueGroup } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'server-start-test-key';
const credentials = { key: KEY, insecure: false, cluster: 'lanfs' };

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test('server start - a second server on a data folder in use says which process uses it and exits 2; a killed one leaves no lock behind', async (t) => {
  const data = await tempDir(t);
  const group = uniqueGroup();
  const first = await startServer(t, ['--data', data, '--id', '1', '--key', KEY, '--group', group]);
  const second = await runCli([
    'server',
    ...['--data', data, '--key', KEY, '--group', group],
    ...['--host', '127.0.0.1', '--port', '0', '--interface', '127.0.0.1'],
  ]);
  assert.equal(second.code, 2, second.stderr);
  assert.match(
    second.stderr,
    new RegExp(
      `^lanfs: .* is in use by lanfs process ${first.child.pid} \\(serving at ${first.address}\\);[^\\n]*\\n$`,
    ),
  );
  // Killed, it cannot remove its lock: the next server takes the stale lock over.
  await first.kill9();
  const third = await startServer(t, ['--data', data, '--key', KEY, '--group', group]);
  assert.ok(third.port > 0);
});

test('server start - a stopped server still says where it was (no "server not listening")', async (t) => {
  const data = await tempDir(t);
  const server = new LanfsServer({
    dataDir: data,
    serverId: 1,
    host: '127.0.0.1',
    port: 0,
    credentials,
    logger: silentLogger(),
  });
  onCleanup(t, () => server.stop());
  await server.start();
  const address = server.address;
  await server.stop();
  assert.equal(server.address, address);
  assert.deepEqual(
    server.view.servers().map((s) => s.address),
    [address],
  );
});

test('server start - a server whose --peers names itself does not take itself for a duplicate', async (t) => {
  const data = await tempDir(t);
  const port = await freePort();
  const server = await startServer(
    t,
    [
      '--data',
      data,
      '--id',
      '1',
      '--key',
      KEY,
      '--port',
      String(port),
      '--peers',
      `127.0.0.1:${port}`,
    ],
    { LANFS_LOG_LEVEL: 'debug' },
  );
  let exited: number | null | undefined;
  void server.exited.then((code) => (exited = code));
  await waitFor(
    'the server to find that it dialed itself (or to stop)',
    () => ({ exited, log: server.log() }),
    ({ exited, log }) => exited !== undefined || log.includes('that address is this server'),
  );
  assert.equal(exited, undefined, server.log());
});

/**
 * A stand-in for a peer with id 2: it answers the real server's dial with WELCOME
 * and then says nothing, so the real server holds a link whose instance it does
 * not know yet; then it dials the real server itself, as two servers starting at
 * once do.
 */
test('server start - a peer dialing a server while that server is still opening its own link to it is not a duplicate', async (t) => {
  const data = await tempDir(t);
  const accepted: Socket[] = [];
  let dialed: () => void = () => undefined;
  const dialedUs = new Promise<void>((resolve) => (dialed = resolve));
  const fake: Server = createServer((socket) => {
    accepted.push(socket);
    const connection = new Connection(socket);
    void acceptHandshake(connection, 2, credentials).then(
      () => {
        connection.send('WELCOME', 0, { serverId: 2, members: [], insecure: false });
        dialed();
      },
      () => undefined,
    );
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => fake.close(resolve));
  });
  const fakeAddress = `127.0.0.1:${(fake.address() as { port: number }).port}`;
  const server = await startServer(t, [
    ...['--data', data, '--id', '1', '--key', KEY, '--no-multicast'],
    // Silence alone must not end the link during the test.
    ...['--peers', fakeAddress, '--peer-timeout', '120000'],
  ]);
  await dialedUs;
  const connection = await dialConnection('127.0.0.1', server.port, 5000);
  t.after(() => connection.destroy());
  const welcome = await dialHandshake(connection, 'server', credentials, {
    serverId: 2,
    instance: '0123456789abcdef',
    address: fakeAddress,
  });
  assert.equal(welcome.serverId, 1);
});

test('server start - --log-format pretty writes readable lines, and each peer is logged as connected once', async (t) => {
  const group = uniqueGroup();
  const args = (i: number, data: string): string[] => [
    ...['--data', data, '--id', String(i), '--key', KEY, '--group', group],
    ...['--log-format', 'pretty'],
  ];
  const info = { LANFS_LOG_LEVEL: 'info' };
  const one = await startServer(t, args(1, await tempDir(t)), info);
  const two = await startServer(t, args(2, await tempDir(t)), info);
  await waitFor(
    'each server logging the other as connected',
    () => [one.log(), two.log()],
    ([a, b]) => /peer connected .*peer=2/.test(a!) && /peer connected .*peer=1/.test(b!),
  );
  // Both dialed each other at once: two links met, one was kept, neither logged twice.
  const status = await runCli(['status', '--json'], {
    env: { LANFS_KEY: KEY, LANFS_SERVER: `${one.address},${two.address}` },
  });
  assert.equal(status.code, 0, status.stderr);
  for (const server of [one, two]) {
    const lines = server.log().trim().split('\n');
    assert.ok(
      lines.every((l) => /^\d\d:\d\d:\d\d (INFO |WARN |ERROR) /.test(l)),
      server.log(),
    );
    assert.equal(lines.filter((l) => l.includes('peer connected')).length, 1, server.log());
  }
});
