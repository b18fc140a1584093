/**
 * Bad input on the server port (SPEC §4, RELIABILITY D3/D7): junk, absurd length
 * prefixes, truncated frames, messages before the handshake, malformed requests
 * and uploads cut off midway. Each ends its own connection with a clear error;
 * a correct client is served all along and nothing half-written stays behind.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { LanfsClient } from '../../src/client/client.ts';
import { encodeFrame, encodeFrameHeader } from '../../src/protocol/frame.ts';
import { encodeMessage, MessageType } from '../../src/protocol/messages.ts';
import { startServer, suiteCleanup, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { authenticatedConnection, rawSocket, readUntilClosed } from '../harness/raw-client.ts';
import { leftoverUploads, tempDir } from '../harness/tmp-dir.ts';

const KEY = 'hostile-test-key';

describe('hostile input - one server, many bad connections', () => {
  const suite = suiteCleanup(after);
  let server: ServerProcess;
  let data: string;
  let good: LanfsClient;

  before(async () => {
    data = await tempDir(suite);
    server = await startServer(suite, ['--data', data, '--id', '1', '--key', KEY]);
    good = await LanfsClient.connect({
      servers: [server.address],
      credentials: { key: KEY, insecure: false, cluster: 'lanfs' },
    });
    suite.after(() => good.close());
    await good.create('keep.txt', [Buffer.from('still here')]);
  });

  async function goodClientStillServed(): Promise<void> {
    const chunks: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
    await good.download('keep.txt', sink);
    assert.equal(Buffer.concat(chunks).toString(), 'still here');
    assert.equal(server.child.exitCode, null, 'the server is still running');
  }

  async function expectClosedWithError(payload: Buffer, pattern: RegExp): Promise<void> {
    const socket = await rawSocket(server.port);
    socket.write(payload);
    const { bytes, closedByServer } = await readUntilClosed(socket);
    assert.ok(closedByServer, 'the server closed the connection');
    assert.match(bytes.toString('latin1'), pattern);
  }

  test('junk bytes (an HTTP request) get an error and a close', async () => {
    await expectClosedWithError(
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      /LANFS_ERR_PROTOCOL.*not a lanfs frame/,
    );
    await goodClientStillServed();
  });

  test('absurd length prefixes are refused before any allocation', async () => {
    for (const length of [0x7fffffff, 0xffffffff, 1024 * 1024 + 1]) {
      await expectClosedWithError(
        encodeFrameHeader(MessageType.HELLO, 0, length),
        /LANFS_ERR_FRAME_TOO_LARGE/,
      );
    }
    await goodClientStillServed();
  });

  test('1 MiB of random junk sent one byte at a time at first', async () => {
    const socket = await rawSocket(server.port);
    for (const byte of encodeFrameHeader(MessageType.HELLO, 0, 10).subarray(0, 6))
      socket.write(Buffer.from([byte]));
    socket.write(Buffer.alloc(1024 * 1024, 0xab));
    const { closedByServer } = await readUntilClosed(socket);
    assert.ok(closedByServer);
    await goodClientStillServed();
  });

  test(
    'a truncated frame followed by silence: the handshake deadline closes it',
    { timeout: 30_000 },
    async () => {
      const socket = await rawSocket(server.port);
      socket.write(
        encodeMessage('HELLO', 0, {
          role: 'client',
          protocol: 1,
          cluster: 'lanfs',
          nonce: 'a'.repeat(32),
        }).subarray(0, 20),
      );
      const { closedByServer, bytes } = await readUntilClosed(socket, 20_000);
      assert.ok(closedByServer);
      assert.match(bytes.toString('latin1'), /LANFS_ERR_TIMEOUT/);
      await goodClientStillServed();
    },
  );

  test('requests before the handshake, another protocol version, or an unknown type are refused', async () => {
    await expectClosedWithError(encodeMessage('LIST', 1, {}), /Expected HELLO/);
    await expectClosedWithError(
      encodeMessage('HELLO', 0, {
        role: 'client',
        protocol: 99,
        cluster: 'lanfs',
        nonce: 'a'.repeat(32),
      }),
      /LANFS_ERR_UNSUPPORTED_VERSION/,
    );
    await expectClosedWithError(encodeFrame(250, 0, Buffer.alloc(0)), /unknown message type 250/);
    await expectClosedWithError(
      encodeMessage('HELLO', 0, {
        role: 'client',
        protocol: 1,
        cluster: 'other',
        nonce: 'a'.repeat(32),
      }),
      /LANFS_ERR_AUTH_FAILED.*belongs to cluster/,
    );
    await goodClientStillServed();
  });

  test('a malformed request after the handshake closes that connection only', async () => {
    const connection = await authenticatedConnection(server.port, KEY);
    const closed = new Promise<Error | undefined>((resolve) => connection.onClose(resolve));
    connection.socket.write(encodeFrame(MessageType.CREATE, 1, Buffer.from('{"name": 42}')));
    const err = await closed;
    assert.match(String(err?.message), /CREATE message is malformed/);
    await goodClientStillServed();
  });

  test('an upload cut off midway leaves no file, no temp file, and frees the name', async () => {
    const connection = await authenticatedConnection(server.port, KEY);
    connection.send('CREATE', 1, {
      name: 'cut/off.bin',
      size: 10 * 1024 * 1024,
      requestId: 'cut-1',
    });
    for (let i = 0; i < 8; i++) connection.sendData(1, Buffer.alloc(256 * 1024, i));
    await connection.drain();
    await new Promise((r) => setTimeout(r, 200));
    connection.destroy();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await leftoverUploads(data), []);
    assert.equal(
      (await good.list()).some((r) => r.name === 'cut/off.bin'),
      false,
    );
    const record = await good.create('cut/off.bin', [Buffer.from('whole this time')]);
    assert.equal(record.size, 15);
  });

  test('an upload whose bytes do not match the announced sha256 is refused and not stored', async () => {
    const connection = await authenticatedConnection(server.port, KEY);
    connection.setHandler(() => undefined);
    const answer = new Promise<string>((resolve) => {
      connection.setHandler((m) => resolve(m.type === 'ERROR' ? m.body.code : m.type));
    });
    connection.send('CREATE', 1, { name: 'liar.txt', size: 5, requestId: 'liar-1' });
    connection.sendData(1, Buffer.from('hello'));
    connection.send('END', 1, { size: 5, sha256: '0'.repeat(64) });
    assert.equal(await answer, 'LANFS_ERR_CHECKSUM_MISMATCH');
    connection.close();
    assert.equal(
      (await good.list()).some((r) => r.name === 'liar.txt'),
      false,
    );
    assert.deepEqual(await leftoverUploads(data), []);
  });
});

describe('hostile input - random frames against a live server', () => {
  const suite = suiteCleanup(after);

  test(
    '200 connections of random, truncated, oversized and reordered frames: each closed or answered, the server keeps serving',
    { timeout: 60_000 },
    async () => {
      const { servers } = await startCluster(suite, 1, {
        key: KEY,
        args: ['--stall-timeout', '1000'],
      });
      const server = servers[0]!;
      const good = await LanfsClient.connect({
        servers: [server.address],
        credentials: { key: KEY, insecure: false, cluster: 'lanfs' },
      });
      suite.after(() => good.close());
      await good.create('keep.txt', [Buffer.from('still here')]);
      const types = Object.values(MessageType);
      const samples = fc.sample(
        fc.array(
          fc.record({
            type: fc.oneof(fc.constantFrom(...types), fc.integer({ min: 0, max: 255 })),
            streamId: fc.oneof(
              fc.constant(0),
              fc.constant(1),
              fc.integer({ min: 0, max: 0xffffffff }),
            ),
            payload: fc.oneof(
              fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
              fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
              fc.constant(Buffer.from('{"name":"a.txt","size":3,"requestId":"r1"}')),
            ),
            cut: fc.option(fc.integer({ min: 0, max: 20 })),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        { numRuns: 200, seed: 4242 },
      );
      const rssBefore = Number(
        /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${server.child.pid}/status`, 'utf8'))?.[1],
      );
      for (const [i, frames] of samples.entries()) {
        // Half of the runs after a real handshake, half straight on the port.
        const connection =
          i % 2 === 0 ? await authenticatedConnection(server.port, KEY) : undefined;
        const socket = connection?.socket ?? (await rawSocket(server.port));
        connection?.setHandler(() => undefined);
        for (const frame of frames) {
          const bytes = encodeFrame(frame.type, frame.streamId, frame.payload);
          socket.write(frame.cut === null ? bytes : bytes.subarray(0, frame.cut));
        }
        socket.destroy();
      }
      const chunks: Buffer[] = [];
      await good.download(
        'keep.txt',
        new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }),
      );
      assert.equal(Buffer.concat(chunks).toString(), 'still here');
      const rssAfter = Number(
        /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${server.child.pid}/status`, 'utf8'))?.[1],
      );
      assert.ok(
        rssAfter < rssBefore + 100 * 1024,
        `resident memory grew from ${rssBefore} to ${rssAfter} KiB`,
      );
      assert.equal(server.child.exitCode, null);
    },
  );
});
