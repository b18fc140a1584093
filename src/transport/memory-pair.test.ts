import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newNonce } from '../protocol/auth.ts';
import { DATA_CHUNK_BYTES, encodeFrame, PROTOCOL_VERSION } from '../protocol/frame.ts';
import { MessageType, type Message } from '../protocol/messages.ts';
import { LanfsError } from '../shared/errors.ts';
import { Connection } from './connection.ts';
import { acceptHandshake, dialHandshake, type Credentials } from './handshake.ts';
import { connectionPair, memorySocketPair } from './memory-pair.ts';

const credentials: Credentials = { key: 'memory-key', insecure: false, cluster: 'lanfs' };

/** The reason a connection closed, once it has. */
const closeReason = (connection: Connection): Promise<Error | undefined> =>
  new Promise((resolve) => connection.onClose(resolve));

/** Collects every message; `until` resolves once `count` have arrived. */
function collect(connection: Connection): {
  messages: Message[];
  until: (count: number) => Promise<Message[]>;
} {
  const messages: Message[] = [];
  let waiting: { count: number; resolve: () => void } | undefined;
  connection.setHandler((message) => {
    messages.push(message);
    if (waiting && messages.length >= waiting.count) waiting.resolve();
  });
  return {
    messages,
    until: async (count) => {
      if (messages.length < count)
        await new Promise<void>((resolve) => (waiting = { count, resolve }));
      return messages;
    },
  };
}

test('memory pair - messages go both ways, in order, with their stream ids', async () => {
  const [a, b] = connectionPair();
  const fromA = collect(b);
  const fromB = collect(a);
  a.send('LIST', 1, {});
  a.sendData(1, Buffer.from('hello'));
  a.send('END', 1, { size: 5, sha256: 'a'.repeat(64) });
  b.send('STATUS', 7, {});
  const got = await fromA.until(3);
  assert.deepEqual(
    got.map((m) => [m.type, m.streamId]),
    [
      ['LIST', 1],
      ['DATA', 1],
      ['END', 1],
    ],
  );
  assert.equal(got[1]!.type === 'DATA' && got[1].bytes.toString(), 'hello');
  assert.deepEqual(
    (await fromB.until(1)).map((m) => [m.type, m.streamId]),
    [['STATUS', 7]],
  );
  assert.equal(a.remoteAddress, 'memory-b:2');
  assert.ok(a.socket.bytesWritten > 0 && a.socket.bytesWritten === b.socket.bytesRead);
  a.close();
  await closeReason(b);
});

test('memory pair - a reader that stops reading holds the sender back until it reads again', async () => {
  const [socketA, socketB] = memorySocketPair();
  const [a, b] = [new Connection(socketA), new Connection(socketB)];
  const received = collect(b);
  b.pause();
  const chunk = Buffer.alloc(256 * 1024, 7);
  const sent = 16;
  for (let i = 0; i < sent; i++) a.sendData(1, chunk);
  let resumed = false;
  let drainedEarly = false;
  const drained = a.drain().then(() => (drainedEarly = !resumed));
  // Give the streams a few turns of the event loop: with nobody reading, the bytes stay
  // with the sender (at most about one chunk reaches the reader's buffer) and no 'drain' comes.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(a.socket.writableNeedDrain, true);
  assert.ok(
    socketB.readableLength <= chunk.length * 2,
    `the reader was handed ${socketB.readableLength} bytes it did not ask for`,
  );
  assert.ok(socketA.writableLength >= chunk.length * (sent - 2));
  resumed = true;
  b.resume();
  await drained;
  assert.equal(drainedEarly, false);
  const got = await received.until(sent);
  assert.equal(got.length, sent);
  assert.ok(got.every((m) => m.type === 'DATA' && m.bytes.equals(chunk)));
  assert.equal(a.socket.writableNeedDrain, false);
  a.close();
});

test('memory pair - a close on one end is seen by the other, and so is a reset', async () => {
  const [a, b] = connectionPair();
  const seen = closeReason(b);
  a.close();
  const reason = await seen;
  assert.equal((reason as LanfsError | undefined)?.code, 'LANFS_ERR_CONNECTION_CLOSED');
  assert.equal(b.closed, true);
  assert.equal(b.send('LIST', 1, {}), false, 'nothing is sent on a closed connection');

  const [c, d] = connectionPair();
  const reset = closeReason(d);
  c.destroy();
  await reset;
  assert.equal(d.closed, true);
  await assert.rejects(d.receive(5000), { code: 'LANFS_ERR_CONNECTION_CLOSED' });
});

test('memory pair - a close with a reason sends ERROR on stream 0, which the other end keeps as its reason', async () => {
  const [a, b] = connectionPair();
  const received = collect(b);
  const seen = closeReason(b);
  a.close(new LanfsError('LANFS_ERR_TIMEOUT', 'Nothing happened for a while; closing.'));
  const reason = (await seen) as LanfsError;
  assert.equal(reason.code, 'LANFS_ERR_TIMEOUT');
  assert.match(reason.message, /Nothing happened/);
  assert.deepEqual(
    received.messages.map((m) => [m.type, m.streamId]),
    [['ERROR', 0]],
  );
});

test('memory pair - bytes that are not a lanfs frame close the reader with a protocol error on stream 0', async () => {
  const [a, b] = connectionPair();
  const aClosed = closeReason(a);
  const bClosed = closeReason(b);
  const toB = collect(b);
  // Straight on b's socket, under its Connection: what a stray HTTP client would send.
  b.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  const aReason = (await aClosed) as LanfsError;
  assert.equal(aReason.code, 'LANFS_ERR_PROTOCOL');
  const bReason = (await bClosed) as LanfsError;
  assert.equal(bReason.code, 'LANFS_ERR_PROTOCOL', 'the sender is told why');
  assert.match(bReason.message, /not a lanfs frame/);
  assert.deepEqual(
    toB.messages.map((m) => [m.type, m.streamId]),
    [['ERROR', 0]],
  );
});

test('memory pair - a message whose body breaks its schema closes the connection with a protocol error', async () => {
  const [a, b] = connectionPair();
  const aClosed = closeReason(a);
  const bClosed = closeReason(b);
  collect(b);
  // A CREATE whose name is a number: framed correctly, but malformed.
  b.socket.write(encodeFrame(MessageType.CREATE, 1, Buffer.from('{"name": 42}')));
  assert.equal(((await aClosed) as LanfsError).code, 'LANFS_ERR_PROTOCOL');
  assert.match(String((await bClosed)?.message), /CREATE message is malformed/);
});

test('memory pair - the handshake with the right key: HELLO, CHALLENGE, AUTH, WELCOME', async () => {
  const [dialer, acceptor] = connectionPair();
  const accepted = acceptHandshake(acceptor, 3, credentials);
  const welcomed = dialHandshake(dialer, 'server', credentials, {
    serverId: 2,
    instance: 'feedfeedfeedfeed',
    address: '127.0.0.1:7070',
  });
  const hello = await accepted;
  assert.equal(hello.role, 'server');
  assert.equal(hello.serverId, 2);
  // What the server sends once the dialer proved the key (server.ts does this).
  acceptor.send('WELCOME', 0, { serverId: 3, members: [], insecure: false });
  assert.deepEqual(await welcomed, { serverId: 3, members: [], insecure: false });
  assert.equal(dialer.closed || acceptor.closed, false);
  dialer.close();
});

test('memory pair - an acceptor with another key is not trusted by the dialer', async () => {
  const [dialer, acceptor] = connectionPair();
  const accepted = acceptHandshake(acceptor, 1, { ...credentials, key: 'another key' });
  accepted.catch(() => undefined);
  await assert.rejects(dialHandshake(dialer, 'client', credentials), {
    code: 'LANFS_ERR_AUTH_FAILED',
    message: /does not match the cluster's key \(server 1 runs with another\)/,
  });
  // The dialer's caller drops the connection; the acceptor gives up with it.
  dialer.destroy();
  await assert.rejects(accepted, { code: 'LANFS_ERR_CONNECTION_CLOSED' });
});

test('memory pair - a dialer with a wrong proof is refused with ERROR on stream 0 and the connection closes', async () => {
  const [dialer, acceptor] = connectionPair();
  const dialerClosed = closeReason(dialer);
  const accepted = acceptHandshake(acceptor, 1, credentials);
  accepted.catch(() => undefined);
  // The dialer's side by hand, with a proof made without the key.
  dialer.send('HELLO', 0, {
    role: 'client',
    protocol: PROTOCOL_VERSION,
    cluster: 'lanfs',
    nonce: newNonce(),
  });
  const challenge = await dialer.receive(5000);
  assert.equal(challenge.type, 'CHALLENGE');
  dialer.send('AUTH', 0, { proof: 'f'.repeat(64) });
  await assert.rejects(accepted, { code: 'LANFS_ERR_AUTH_FAILED' });
  const refusal = await dialer.receive(5000);
  assert.equal(refusal.type === 'ERROR' && refusal.streamId, 0);
  assert.equal(refusal.type === 'ERROR' && refusal.body.code, 'LANFS_ERR_AUTH_FAILED');
  assert.equal(((await dialerClosed) as LanfsError).code, 'LANFS_ERR_AUTH_FAILED');
});

test('memory pair - a dialer of another cluster, or without a key, is refused', async () => {
  const [dialer, acceptor] = connectionPair();
  const accepted = acceptHandshake(acceptor, 1, credentials);
  accepted.catch(() => undefined);
  await assert.rejects(dialHandshake(dialer, 'client', { ...credentials, cluster: 'other' }), {
    code: 'LANFS_ERR_AUTH_FAILED',
    message: /belongs to cluster "lanfs", not "other"/,
  });
  await assert.rejects(accepted, { code: 'LANFS_ERR_AUTH_FAILED' });

  const [keyless, acceptor2] = connectionPair();
  const accepted2 = acceptHandshake(acceptor2, 1, credentials);
  accepted2.catch(() => undefined);
  await assert.rejects(dialHandshake(keyless, 'client', { ...credentials, key: undefined }), {
    code: 'LANFS_ERR_AUTH_REQUIRED',
  });
  keyless.destroy();
  await assert.rejects(accepted2);
});

test('memory pair - file bytes larger than a frame leave as several DATA frames, one callback when all are written', async () => {
  const [a, b] = connectionPair();
  const received = collect(b);
  const bytes = Buffer.alloc(2 * DATA_CHUNK_BYTES + 1000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
  let callbacks = 0;
  a.sendData(3, bytes, () => callbacks++);
  const got = await received.until(3);
  assert.deepEqual(
    got.map((m) => (m.type === 'DATA' ? [m.streamId, m.bytes.length] : m.type)),
    [
      [3, DATA_CHUNK_BYTES],
      [3, DATA_CHUNK_BYTES],
      [3, 1000],
    ],
  );
  assert.ok(
    Buffer.concat(got.map((m) => (m.type === 'DATA' ? m.bytes : Buffer.alloc(0)))).equals(bytes),
  );
  for (let i = 0; i < 20 && callbacks === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(callbacks, 1);
  a.close();
  await closeReason(b);
});
