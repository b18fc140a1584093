/**
 * A 1 GiB upload and download through one server keep its resident memory
 * under 200 MiB (files are streamed, never held whole), and the bytes come
 * back exactly (sha256 checked on both ends).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { startServer } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp-dir.ts';

const GIB = 1024 * 1024 * 1024;
const MAX_SERVER_RSS_BYTES = 200 * 1024 * 1024;

/** Peak resident memory of a process so far (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  assert.ok(kib);
  return Number(kib) * 1024;
}

/** size bytes of varied content, generated as it is read. */
function* generated(size: number): Generator<Buffer> {
  const block = Buffer.alloc(4 * 1024 * 1024);
  for (let sent = 0, n = 0; sent < size; n++) {
    block.fill(n % 251);
    block.writeUInt32BE(n, 0);
    const part = Buffer.from(block.subarray(0, Math.min(block.length, size - sent)));
    sent += part.length;
    yield part;
  }
}

test(
  'large file - 1 GiB create and download with the server under 200 MiB resident',
  { timeout: 180_000 },
  async (t) => {
    const data = await tempDir(t);
    const server = await startServer(t, ['--data', data, '--id', '1', '--insecure']);
    const client = await LanfsClient.connect({
      servers: [server.address],
      credentials: { key: undefined, insecure: true, cluster: 'lanfs' },
    });
    t.after(() => client.close());

    const expected = createHash('sha256');
    for (const chunk of generated(GIB)) expected.update(chunk);
    const sha256 = expected.digest('hex');

    const record = await client.create('big.bin', generated(GIB), { size: GIB });
    assert.equal(record.size, GIB);
    assert.equal(record.sha256, sha256);
    const afterUpload = await peakRss(server.child.pid!);

    const received = createHash('sha256');
    let bytes = 0;
    const sink = new Writable({
      highWaterMark: 4 * 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        received.update(chunk);
        bytes += chunk.length;
        callback();
      },
    });
    await client.download('big.bin', sink);
    assert.equal(bytes, GIB);
    assert.equal(received.digest('hex'), sha256);
    const afterDownload = await peakRss(server.child.pid!);
    t.diagnostic(
      `server peak RSS: ${(afterUpload / 1048576).toFixed(0)} MiB after upload, ${(afterDownload / 1048576).toFixed(0)} MiB after download`,
    );
    assert.ok(afterDownload < MAX_SERVER_RSS_BYTES, `server peak RSS ${afterDownload} bytes`);
  },
);
