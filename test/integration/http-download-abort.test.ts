/**
 * Large HTTP GETs are read past the page cache into buffers shared by every
 * download (storage/direct-reads.ts). A client that goes away in the middle must
 * not take them along: after many aborted downloads, a new one still gets them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChunkReader } from '../../src/service/chunk-reader.ts';
import { startInProcess } from '../harness/in-process.ts';
import { tempDir } from '../harness/tmp-dir.ts';

const KEY = 'http-abort-test-key';
const SIZE = 6 * 1024 * 1024;
/** More than the shared buffers (32): each leaked download would take at least one. */
const ABORTED = 80;

/**
 * A GET of /files/NAME that goes away: reset after the first bytes or in the middle of
 * the file, or half-closed once the answer has begun (the server then ends its side).
 */
async function abortedGet(
  port: number,
  name: string,
  how: 'reset early' | 'reset late' | 'half-close',
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 10 s')), 10_000);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (how === 'half-close') {
        // Once the answer has begun: the server then ends its side, and stops sending.
        if (!socket.writableEnded) socket.end();
        return;
      }
      if (received > (how === 'reset late' ? 1024 * 1024 : 1)) socket.resetAndDestroy();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(err);
    });
    const request = `GET /files/${name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n\r\n`;
    socket.write(request);
  });
}

test('http download abort - clients that leave mid-download give the shared read buffers back', async (t) => {
  const dataDir = await tempDir(t);
  const server = await startInProcess(t, {
    dataDir,
    id: 1,
    key: KEY,
    replicas: 1,
    httpPort: 0,
  });
  const bytes = randomBytes(SIZE);
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/files/big.bin`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${KEY}` },
    body: bytes,
  });
  assert.equal(response.status, 201, await response.text());

  const ways = ['reset early', 'reset late', 'half-close'] as const;
  for (let i = 0; i < ABORTED; i++) await abortedGet(server.httpPort!, 'big.bin', ways[i % 3]!);
  // The server notices each reset a moment later; a download that leaked stays leaked.
  await new Promise((r) => setTimeout(r, 500));

  // Two chunks held at once, and a third read ahead: all from the shared buffers.
  const handle = await open(join(dataDir, 'big.bin'));
  t.after(() => handle.close());
  const reader = new ChunkReader(handle, 0, SIZE, { givesBack: true });
  const held = [(await reader.next())!, (await reader.next())!];
  const shared = held.filter((chunk) => chunk.bytes.buffer.byteLength > 16 * 1024 * 1024).length;
  for (const chunk of held) chunk.written();
  await reader.close();
  assert.equal(shared, 2, 'aborted downloads kept the shared read buffers');

  // And a whole download still arrives intact.
  const whole = await fetch(`http://127.0.0.1:${server.httpPort}/files/big.bin`, {
    headers: { Authorization: `Bearer ${KEY}` },
  });
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes));
});
