/**
 * A file server on a LAN is reachable by everything on it (SPEC §4,
 * RELIABILITY D1–D8): idle and trickling connections, symbolic links out of the
 * data folder, a full disk, oversized files, forged announcements, and TLS.
 * Each test keeps a correct client being served while the bad input arrives.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { mkdir, mkdtemp, readFile, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { LanfsClient } from '../../src/client/client.ts';
import { encodeDatagram } from '../../src/discovery/announcement.ts';
import { encodeFrameHeader } from '../../src/protocol/frame.ts';
import { MessageType } from '../../src/protocol/messages.ts';
import { runCli, startServer, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { authenticatedConnection, rawSocket, readUntilClosed } from '../harness/raw-client.ts';
import { leftoverUploads, tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const exec = promisify(execFile);
const KEY = 'hardening-test-key';
const env = (server: { address: string }): NodeJS.ProcessEnv => ({
  LANFS_KEY: KEY,
  LANFS_SERVER: server.address,
});

test(
  'hardening - 300 idle connections (half of them authenticated) while a correct client is served',
  { timeout: 60_000 },
  async (t) => {
    const data = await tempDir(t);
    await writeFile(join(data, 'served.txt'), 'still served\n');
    const server = await startServer(t, ['--data', data, '--id', '1', '--key', KEY]);
    const idle: Socket[] = [];
    for (let i = 0; i < 150; i++) idle.push(await rawSocket(server.port));
    const authenticated = await Promise.all(
      Array.from({ length: 150 }, () => authenticatedConnection(server.port, KEY)),
    );
    t.after(() => {
      for (const s of idle) s.destroy();
      for (const c of authenticated) c.destroy();
    });
    const got = await runCli(['download', 'served.txt', '-o', '-'], { env: env(server) });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, 'still served\n');
    const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
    const rssKib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    t.diagnostic(
      `server resident memory with 300 idle connections: ${(rssKib / 1024).toFixed(0)} MiB`,
    );
    assert.ok(rssKib < 200 * 1024);
  },
);

test('hardening - a client sending one byte at a time, or an upload that stops, is cut off', async (t) => {
  const cluster = await startCluster(t, 1, { key: KEY, args: ['--stall-timeout', '1500'] });
  const [server, data] = [cluster.servers[0]!, cluster.data(0)];
  // Part of a frame, then one byte every 400 ms: never a whole message.
  const trickle = await authenticatedConnection(server.port, KEY);
  const closed = new Promise<Error | undefined>((resolve) => trickle.onClose(resolve));
  const header = encodeFrameHeader(MessageType.LIST, 1, 2);
  let i = 0;
  const timer = setInterval(() => {
    if (i < header.length) trickle.socket.write(header.subarray(i, ++i));
  }, 400);
  t.after(() => clearInterval(timer));
  const reason = await closed;
  assert.match(String(reason?.message), /Part of a message arrived and then nothing/);
  // An upload that starts and then sends nothing.
  const stalled = await authenticatedConnection(server.port, KEY);
  const stalledClosed = new Promise<Error | undefined>((resolve) => stalled.onClose(resolve));
  stalled.send('CREATE', 1, { name: 'never.txt', size: 100, requestId: 'stall-1' });
  assert.match(String((await stalledClosed)?.message), /upload stalled/);
  assert.deepEqual(await leftoverUploads(data), []);
  const ok = await runCli(['create', 'fine.txt'], { env: env(server), input: 'fine\n' });
  assert.equal(ok.code, 0, ok.stderr);
});

test('hardening - symbolic links in the data folder are never followed out of it', async (t) => {
  const data = await tempDir(t);
  await symlink('/etc/passwd', join(data, 'passwd'));
  await symlink('/etc', join(data, 'etc'));
  await writeFile(join(data, 'real.txt'), 'real\n');
  const server = await startServer(t, ['--data', data, '--id', '1', '--key', KEY]);
  const shown = await runCli(['show', '--json'], { env: env(server) });
  assert.deepEqual(
    (JSON.parse(shown.stdout) as { name: string }[]).map((r) => r.name),
    ['real.txt'],
  );
  for (const name of ['passwd', 'etc/passwd', 'etc/hostname']) {
    const got = await runCli(['download', name, '-o', '-'], { env: env(server) });
    assert.equal(got.code, 3, `${name}: ${got.stderr}`);
    assert.doesNotMatch(got.stdout, /root:/);
  }
  const through = await runCli(['create', 'etc/new.txt'], { env: env(server), input: 'x' });
  assert.notEqual(through.code, 0);
  assert.match(through.stderr, /symbolic link|already exists/);
});

test('hardening - a full disk refuses the upload with a clear error, keeps nothing partial, and reads go on', async (t) => {
  // A small filesystem of the test's own; one clean-up stops the server, then unmounts.
  const mount = await mkdtemp(join(tmpdir(), 'lanfs-full-'));
  await exec('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mount]);
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await exec('umount', ['-l', mount]).catch(() => undefined);
    await rmdir(mount).catch(() => undefined);
  });
  const data = join(mount, 'data');
  await mkdir(data);
  await writeFile(join(data, 'small.txt'), 'small\n');
  const server = await startServer({ after: (fn) => cleanups.push(fn) }, [
    '--data',
    data,
    '--id',
    '1',
    '--key',
    KEY,
  ]);
  const source = join(await tempDir(t), 'big.bin');
  await writeFile(source, Buffer.alloc(6 * 1024 * 1024, 1));
  const refused = await runCli(['create', 'big.bin', '--from', source], { env: env(server) });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /disk is full/);
  // The refusal can reach the client while the server still removes the temp file.
  await waitFor(
    'the refused upload removed',
    () => leftoverUploads(data),
    (left) => left.length === 0,
  );
  const shown = await runCli(['show', '--json'], { env: env(server) });
  assert.deepEqual(
    (JSON.parse(shown.stdout) as { name: string }[]).map((r) => r.name),
    ['small.txt'],
  );
  const read = await runCli(['download', 'small.txt', '-o', '-'], { env: env(server) });
  assert.equal(read.stdout, 'small\n');
  const after = await runCli(['create', 'after.txt'], { env: env(server), input: 'fits\n' });
  assert.equal(after.code, 0, after.stderr);
});

test('hardening - files over --max-file-size are refused before and while they arrive', async (t) => {
  const { servers } = await startCluster(t, 1, { key: KEY, args: ['--max-file-size', '1000'] });
  const server = servers[0]!;
  const declared = await runCli(['create', 'big.txt'], {
    env: env(server),
    input: 'x'.repeat(2000),
  });
  assert.equal(declared.code, 1);
  assert.match(declared.stderr, /limited to 1000 bytes/);
  const client = await LanfsClient.connect({
    servers: [server.address],
    credentials: { key: KEY, insecure: false, cluster: 'lanfs' },
  });
  t.after(() => client.close());
  await assert.rejects(
    client.create('sneaky.txt', [Buffer.alloc(800), Buffer.alloc(800)]),
    /limited to 1000 bytes/,
  );
  assert.equal((await client.create('ok.txt', [Buffer.alloc(999)])).size, 999);
});

test('hardening - forged announcements on the group are ignored', async (t) => {
  const { group, servers } = await startCluster(t, 1, { key: KEY });
  const server = servers[0]!;
  const [address, port] = group.split(':') as [string, string];
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  t.after(() => socket.close());
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setMulticastInterface('127.0.0.1');
  const forged = {
    kind: 'announce' as const,
    cluster: 'lanfs',
    serverId: 9,
    instance: 'badbadbadbadbad0',
    host: '127.0.0.1',
    port: 1,
    uptimeMs: 999_999_999,
  };
  for (const key of ['wrong key', undefined])
    socket.send(encodeDatagram(forged, key), Number(port), address);
  // Same id as the server, signed with a wrong key: must not make it stop either.
  socket.send(encodeDatagram({ ...forged, serverId: 1 }, 'wrong key'), Number(port), address);
  await new Promise((r) => setTimeout(r, 1500));
  const status = await runCli(['status', '--json'], { env: env(server) });
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(
    (JSON.parse(status.stdout) as { servers: { id: number }[] }).servers.map((s) => s.id),
    [1],
  );
});

test(
  'hardening - TLS between servers and clients, with certificates checked both ways',
  { timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t);
    const ssl = (...args: string[]) => exec('openssl', args, { cwd: dir });
    await ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=lanfs test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    );
    for (const who of ['server', 'client']) {
      await ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        `/CN=lanfs ${who}`,
        '-keyout',
        `${who}.key`,
        '-out',
        `${who}.csr`,
      );
      await writeFile(join(dir, `${who}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      await ssl(
        'x509',
        '-req',
        '-in',
        `${who}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${who}.ext`,
        '-out',
        `${who}.pem`,
      );
    }
    const tls = [
      '--tls-cert',
      join(dir, 'server.pem'),
      '--tls-key',
      join(dir, 'server.key'),
      '--tls-ca',
      join(dir, 'ca.pem'),
    ];
    const clientTls = {
      LANFS_TLS_CA: join(dir, 'ca.pem'),
      LANFS_TLS_CERT: join(dir, 'client.pem'),
      LANFS_TLS_KEY: join(dir, 'client.key'),
    };
    // The two servers find each other over TLS before startCluster returns.
    const cluster = await startCluster(t, 2, { key: KEY, args: tls, clientEnv: clientTls });
    const [one, two] = cluster.servers as [ServerProcess, ServerProcess];
    const created = await runCli(['create', 'secret.txt'], {
      env: { ...env(one), ...clientTls },
      input: 'over TLS\n',
    });
    assert.equal(created.code, 0, created.stderr);
    // The servers' mesh and the copy run over TLS too.
    const fromTwo = await waitFor(
      'the file on server 2',
      () => runCli(['download', 'secret.txt', '-o', '-'], { env: { ...env(two), ...clientTls } }),
      (r) => r.code === 0,
    );
    assert.equal(fromTwo.stdout, 'over TLS\n');
    // Plain TCP, or TLS without a client certificate, gets nowhere.
    const plain = await runCli(['show'], { env: env(one) });
    assert.notEqual(plain.code, 0);
    const noCert = await runCli(['show'], {
      env: { ...env(one), LANFS_TLS_CA: join(dir, 'ca.pem') },
    });
    assert.notEqual(noCert.code, 0);
    // A raw lanfs frame on the TLS port is not understood as one.
    const raw = await rawSocket(one.port);
    raw.write(encodeFrameHeader(MessageType.HELLO, 0, 0));
    assert.ok((await readUntilClosed(raw)).closedByServer);
  },
);
