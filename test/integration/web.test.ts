/**
 * The HTTP side of a server with a real HTTP client (fetch, like curl -L): the
 * JSON API, file access with a 307 to a live holder, 401 without the key, 409
 * on an existing name, 404, deletes (forwarded to the acting primary), a create
 * with its copy, downloads with HEAD, Range (206, 416), ETag and If-None-Match,
 * and /metrics in the Prometheus format.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { runCli, startServer, uniqueGroup, type ServerProcess } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'web-test-key';
const auth = { Authorization: `Bearer ${KEY}` };

test('web - files over HTTP: PUT, GET (307 to a holder), 409, 401, 404, DELETE, and the JSON API', async (t) => {
  const group = uniqueGroup();
  const one = await startServer(t, [
    '--data',
    await tempDir(t),
    '--id',
    '1',
    '--key',
    KEY,
    '--group',
    group,
    '--replicas',
    '1',
    '--http-port',
    '0',
  ]);
  const two = await startServer(t, [
    '--data',
    await tempDir(t),
    '--id',
    '2',
    '--key',
    KEY,
    '--group',
    group,
    '--replicas',
    '1',
    '--http-port',
    '0',
  ]);
  const base = (s: typeof one) => `http://127.0.0.1:${s.httpPort}`;
  await waitFor(
    'server 1 knows server 2 and its HTTP port',
    async () =>
      (await (await fetch(`${base(one)}/api/status`, { headers: auth })).json()) as {
        servers: { id: number; up: boolean; httpAddress?: string }[];
      },
    (s) => s.servers.some((m) => m.id === 2 && m.up && m.httpAddress !== undefined),
  );

  let res = await fetch(`${base(two)}/files/docs/hello.txt`, {
    method: 'PUT',
    headers: auth,
    body: 'hello over http\n',
  });
  assert.equal(res.status, 201, await res.clone().text());
  const created = (await res.json()) as { name: string; version: number; primary: number };
  assert.deepEqual([created.name, created.version, created.primary], ['docs/hello.txt', 1, 2]);

  res = await fetch(`${base(one)}/files/docs/hello.txt`, {
    method: 'PUT',
    headers: auth,
    body: 'again',
  });
  assert.equal(res.status, 409);

  // Server 1 does not hold it: 307 to server 2, which fetch follows like curl -L.
  await waitFor(
    'server 1 sees the file',
    async () =>
      await ((await fetch(`${base(one)}/api/files`, { headers: auth })).json() as Promise<
        { name: string }[]
      >),
    (f) => f.length === 1,
  );
  res = await fetch(`${base(one)}/files/docs/hello.txt`, { headers: auth, redirect: 'manual' });
  assert.equal(res.status, 307);
  const location = res.headers.get('location') ?? '';
  assert.match(
    location,
    new RegExp(`:${two.httpPort}/files/docs/hello.txt\\?expires=\\d+&ticket=[0-9a-f]{64}$`),
  );
  assert.ok(!location.includes(KEY), 'the key is never put in a URL');
  assert.equal(
    (await fetch(location.replace(/ticket=[0-9a-f]/, 'ticket=g'))).status,
    401,
    'a forged ticket',
  );
  res = await fetch(`${base(one)}/files/docs/hello.txt`, { headers: auth });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello over http\n');
  assert.equal(
    res.headers.get('etag'),
    `"${createHash('sha256').update('hello over http\n').digest('hex')}"`,
  );

  assert.equal((await fetch(`${base(one)}/files/docs/hello.txt`)).status, 401, 'no key');
  assert.equal(
    (await fetch(`${base(one)}/api/files`, { headers: { Authorization: 'Bearer wrong' } })).status,
    401,
  );
  assert.equal((await fetch(`${base(one)}/files/nope.txt`, { headers: auth })).status, 404);
  assert.equal(
    (await fetch(`${base(one)}/files/..%2Fetc%2Fpasswd`, { headers: auth })).status,
    400,
  );

  const files = (await (await fetch(`${base(one)}/api/files`, { headers: auth })).json()) as Record<
    string,
    unknown
  >[];
  const cli = JSON.parse(
    (await runCli(['show', '--json', '--server', one.address], { env: { LANFS_KEY: KEY } })).stdout,
  ) as Record<string, unknown>[];
  assert.deepEqual(files, cli, '/api/files is the JSON of show --json');

  // Server 1 is not the file's primary: its file service forwards the delete to server 2.
  res = await fetch(`${base(one)}/files/docs/hello.txt`, { method: 'DELETE', headers: auth });
  assert.equal(res.status, 204, await res.clone().text());
  assert.equal((await fetch(`${base(two)}/files/docs/hello.txt`, { headers: auth })).status, 404);
});

test('web - /metrics in the Prometheus format, without the key', async (t) => {
  const server = await startServer(t, [
    '--data',
    await tempDir(t),
    '--id',
    '1',
    '--key',
    KEY,
    '--http-port',
    '0',
  ]);
  await fetch(`http://127.0.0.1:${server.httpPort}/files/m.txt`, {
    method: 'PUT',
    headers: auth,
    body: 'metrics',
  });
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  for (const metric of [
    'lanfs_http_requests_total',
    'lanfs_http_request_duration_seconds_bucket',
    'lanfs_bytes_in_total',
    'lanfs_files 1',
    'lanfs_copies_missing',
    'lanfs_peers_up 0',
  ]) {
    assert.ok(text.includes(metric), `${metric} missing from:\n${text}`);
  }
});

test('web - a create with its copy; downloads: HEAD, Range (206, 416), ETag, If-None-Match', async (t) => {
  const { servers } = await startCluster(t, 2, {
    key: KEY,
    args: ['--replicas', '2', '--http-port', '0'],
  });
  const [one, two] = servers as [ServerProcess, ServerProcess];
  const url = `http://127.0.0.1:${one.httpPort}/files/big.bin`;

  // Larger than one read chunk (256 KiB), so downloads take several reads.
  const bytes = randomBytes(600 * 1024 + 123);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let res = await fetch(url, { method: 'PUT', headers: auth, body: bytes });
  assert.equal(res.status, 201, await res.clone().text());
  const created = (await res.json()) as { primary: number; replicas: number[]; sha256: string };
  assert.deepEqual([created.primary, created.replicas, created.sha256], [1, [2], sha256]);
  // The copy is on server 2, stored before the create was answered.
  res = await fetch(`http://127.0.0.1:${two.httpPort}/files/big.bin`, { headers: auth });
  assert.equal(res.status, 200);
  assert.equal(
    createHash('sha256')
      .update(Buffer.from(await res.arrayBuffer()))
      .digest('hex'),
    sha256,
  );

  res = await fetch(url, { headers: auth });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('etag'), `"${sha256}"`);
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  assert.equal(res.headers.get('content-length'), String(bytes.length));
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), 'the whole file');

  res = await fetch(url, { method: 'HEAD', headers: auth });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-length'), String(bytes.length));
  assert.equal(res.headers.get('etag'), `"${sha256}"`);
  assert.equal((await res.arrayBuffer()).byteLength, 0, 'HEAD has no body');

  const ranged = async (range: string) => {
    const r = await fetch(url, { headers: { ...auth, Range: range } });
    return {
      status: r.status,
      contentRange: r.headers.get('content-range'),
      body: Buffer.from(await r.arrayBuffer()),
    };
  };
  const size = bytes.length;
  let part = await ranged('bytes=10-19');
  assert.deepEqual([part.status, part.contentRange], [206, `bytes 10-19/${size}`]);
  assert.ok(part.body.equals(bytes.subarray(10, 20)));
  // Across read chunks.
  part = await ranged('bytes=200000-400000');
  assert.deepEqual([part.status, part.contentRange], [206, `bytes 200000-400000/${size}`]);
  assert.ok(part.body.equals(bytes.subarray(200000, 400001)));
  part = await ranged('bytes=600000-');
  assert.deepEqual([part.status, part.contentRange], [206, `bytes 600000-${size - 1}/${size}`]);
  assert.ok(part.body.equals(bytes.subarray(600000)));
  part = await ranged('bytes=-5');
  assert.deepEqual(
    [part.status, part.contentRange],
    [206, `bytes ${size - 5}-${size - 1}/${size}`],
  );
  assert.ok(part.body.equals(bytes.subarray(size - 5)));
  part = await ranged(`bytes=${size - 1}-${size + 100}`);
  assert.deepEqual(
    [part.status, part.contentRange],
    [206, `bytes ${size - 1}-${size - 1}/${size}`],
  );
  part = await ranged(`bytes=${size}-`);
  assert.deepEqual([part.status, part.contentRange], [416, `bytes */${size}`]);
  part = await ranged('bytes=-0');
  assert.deepEqual([part.status, part.contentRange], [416, `bytes */${size}`]);

  res = await fetch(url, { headers: { ...auth, 'If-None-Match': `"${sha256}"` } });
  assert.equal(res.status, 304);
  assert.equal(res.headers.get('etag'), `"${sha256}"`);
  res = await fetch(url, { headers: { ...auth, 'If-None-Match': '"something-else"' } });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
});
