/**
 * The HTTP details of issue 11, with real servers and real HTTP clients (fetch,
 * curl): a file held only by another server streamed through this one on request
 * (`?proxy=1`, what the dashboard asks for) while curl -L keeps its 307; /metrics
 * keeps a bounded set of series whatever paths are asked for; a missing and a
 * wrong key get different sentences; 404s read the same on every method and
 * speak HTTP, not the CLI; a method a route does not take is 405 with Allow; and
 * curl -r gets a 206 with just those bytes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'web-http-test-key';
const auth = { Authorization: `Bearer ${KEY}` };
const run = promisify(execFile);

const base = (s: ServerProcess): string => `http://127.0.0.1:${s.httpPort}`;

/** Waits until server s lists name (its records arrived from the holder). */
async function waitForListing(s: ServerProcess, name: string): Promise<void> {
  await waitFor(
    `server on ${s.address} lists ${name}`,
    async () =>
      (await (await fetch(`${base(s)}/api/files`, { headers: auth })).json()) as {
        name: string;
      }[],
    (files) => files.some((f) => f.name === name),
  );
}

test('web - a file held only by another server streams through this one with ?proxy=1; curl -L still gets a 307', async (t) => {
  const { servers } = await startCluster(t, 2, {
    key: KEY,
    args: ['--replicas', '1', '--http-port', '0'],
  });
  const [one, two] = servers as [ServerProcess, ServerProcess];
  // Larger than one read chunk and one DATA frame: the relay moves several pieces.
  const bytes = randomBytes(700 * 1024 + 77);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let res = await fetch(`${base(two)}/files/far/away.bin`, {
    method: 'PUT',
    headers: auth,
    body: bytes,
  });
  assert.equal(res.status, 201, await res.clone().text());
  assert.equal(((await res.json()) as { primary: number }).primary, 2);
  await waitForListing(one, 'far/away.bin');
  const url = `${base(one)}/files/far/away.bin`;

  res = await fetch(`${url}?proxy=1`, { headers: auth, redirect: 'manual' });
  assert.equal(res.status, 200, 'served by server 1 itself, not a redirect');
  assert.equal(res.headers.get('etag'), `"${sha256}"`);
  assert.equal(res.headers.get('content-length'), String(bytes.length));
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), 'the whole file, streamed');

  res = await fetch(`${url}?proxy=1`, {
    headers: { ...auth, Range: 'bytes=300000-300009' },
    redirect: 'manual',
  });
  assert.equal(res.status, 206);
  assert.equal(res.headers.get('content-range'), `bytes 300000-300009/${bytes.length}`);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(300000, 300010)));

  res = await fetch(`${url}?proxy=1`, { method: 'HEAD', headers: auth, redirect: 'manual' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-length'), String(bytes.length));
  res = await fetch(`${url}?proxy=1`, {
    headers: { ...auth, 'If-None-Match': `"${sha256}"` },
    redirect: 'manual',
  });
  assert.equal(res.status, 304);

  // A file nobody holds, through the relay too: the same 404 as everywhere.
  res = await fetch(`${base(one)}/files/nowhere.bin?proxy=1`, { headers: auth });
  assert.equal(res.status, 404);

  // Without the parameter, curl -L keeps working through the 307 and its ticket.
  res = await fetch(url, { headers: auth, redirect: 'manual' });
  assert.equal(res.status, 307);
  const { stdout } = await run(
    'curl',
    ['-sS', '-L', '-H', `Authorization: Bearer ${KEY}`, url, '-o', '-'],
    { encoding: 'buffer', maxBuffer: 4 * 1024 * 1024 },
  );
  assert.ok(stdout.equals(bytes), 'curl -L follows the 307');
});

test('web - /metrics keeps one series per route whatever paths and methods are asked for', async (t) => {
  const { servers } = await startCluster(t, 1, { key: KEY, args: ['--http-port', '0'] });
  const url = base(servers[0]!);
  const seriesCount = async (): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text.split('\n').filter((line) => line.startsWith('lanfs_http_')).length;
  };
  // One request of each kind first, so each of their series exists.
  await fetch(`${url}/zz-random-first`);
  await fetch(`${url}/zz-random-first`, { method: 'POST' });
  await fetch(`${url}/zz-random-first`, { method: 'PROPFIND' });
  await fetch(`${url}/metrics`);
  const before = await seriesCount();
  for (let i = 0; i < 40; i++) {
    await fetch(`${url}/zz-random-${i}-${randomBytes(4).toString('hex')}`);
    await fetch(`${url}/api/zz-${i}`, { method: 'POST' });
    await fetch(`${url}/zz/${i}`, { method: i % 2 ? 'PROPFIND' : 'MKCOL' });
  }
  const text = await (await fetch(`${url}/metrics`)).text();
  assert.ok(!text.includes('zz-random'), 'no series is labelled with a path that is no route');
  assert.match(text, /route="unknown"/);
  // PROPFIND and MKCOL share the label OTHER: nothing new appeared.
  assert.equal(await seriesCount(), before);
});

test('web - a missing key and a wrong key get different sentences (both 401)', async (t) => {
  const { servers } = await startCluster(t, 1, { key: KEY, args: ['--http-port', '0'] });
  const url = `${base(servers[0]!)}/api/files`;
  const refusal = async (headers: Record<string, string>) => {
    const res = await fetch(url, { headers });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="lanfs"');
    return (await res.json()) as { error: string; code: string };
  };
  const missing = await refusal({});
  const wrong = await refusal({ Authorization: 'Bearer not-the-key' });
  const malformed = await refusal({ Authorization: 'Token not-a-scheme-lanfs-takes' });
  assert.notEqual(missing.error, wrong.error);
  assert.deepEqual(
    [missing.code, wrong.code],
    ['LANFS_ERR_AUTH_REQUIRED', 'LANFS_ERR_AUTH_FAILED'],
  );
  assert.match(missing.error, /needs its key/);
  assert.match(wrong.error, /not this cluster's key/);
  assert.match(malformed.error, /Bearer <key>/);
  for (const { error } of [missing, wrong]) assert.match(error, /\.\/lanfs-data\/key/);
  // A download link whose ticket is forged says so, not "send the key".
  const res = await fetch(
    `${base(servers[0]!)}/files/x.txt?expires=${Date.now() + 60_000}&ticket=00`,
  );
  assert.equal(res.status, 401);
  assert.match(((await res.json()) as { error: string }).error, /download link/);
});

test('web - 404s read the same for GET, HEAD and DELETE and speak HTTP; 405 with Allow on every route; curl -r gets 206', async (t) => {
  const { servers } = await startCluster(t, 1, { key: KEY, args: ['--http-port', '0'] });
  const url = base(servers[0]!);

  const get = await fetch(`${url}/files/nope.txt`, { headers: auth });
  const del = await fetch(`${url}/files/nope.txt`, { method: 'DELETE', headers: auth });
  const head = await fetch(`${url}/files/nope.txt`, { method: 'HEAD', headers: auth });
  assert.deepEqual([get.status, del.status, head.status], [404, 404, 404]);
  const getBody = (await get.json()) as { error: string; code: string };
  const delBody = (await del.json()) as { error: string; code: string };
  assert.deepEqual(getBody, delBody, 'one sentence for a missing file, whatever the method');
  assert.equal(getBody.code, 'LANFS_ERR_NOT_FOUND');
  assert.doesNotMatch(getBody.error, /lanfs show|run "/, 'no CLI command for an HTTP user');
  assert.match(getBody.error, /No file named "nope.txt" exists; GET \/api\/files lists the files/);

  const unknown = await fetch(`${url}/nothing-here`, { headers: auth });
  assert.equal(unknown.status, 404);
  assert.match(((await unknown.json()) as { error: string }).error, /dashboard is at \//);

  // Every route, with a method it does not take.
  const wrongMethods: [string, string, string][] = [
    ['POST', '/files/a.txt', 'GET, HEAD, PUT, DELETE'],
    ['PATCH', '/files/a.txt', 'GET, HEAD, PUT, DELETE'],
    ['POST', '/', 'GET, HEAD'],
    ['DELETE', '/metrics', 'GET, HEAD'],
    ['PUT', '/api/status', 'GET, HEAD'],
    ['POST', '/api/files', 'GET, HEAD'],
    ['POST', '/api/events', 'GET'],
  ];
  for (const [method, path, allow] of wrongMethods) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: auth,
      body: method === 'GET' ? undefined : 'x',
    });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
    assert.match(((await res.json()) as { error: string }).error, /is not allowed on .*: use /);
  }
  const options = await fetch(`${url}/files/a.txt`, { method: 'OPTIONS' });
  assert.equal(options.status, 204);
  assert.equal(options.headers.get('allow'), 'GET, HEAD, PUT, DELETE, OPTIONS');

  // Range with curl: 206 and the ten bytes, not the whole file.
  const content = 'abcdefghijklmnopqrstuvwxyz';
  const put = await fetch(`${url}/files/letters.txt`, {
    method: 'PUT',
    headers: auth,
    body: content,
  });
  assert.equal(put.status, 201);
  const { stdout } = await run('curl', [
    '-sS',
    '-r',
    '0-9',
    '-H',
    `Authorization: Bearer ${KEY}`,
    '-w',
    '\n%{http_code}',
    `${url}/files/letters.txt`,
  ]);
  assert.equal(stdout, 'abcdefghij\n206');
});

test('web - a streamed download whose client leaves or stops reading does not hold up the next one', async (t) => {
  const { servers } = await startCluster(t, 2, {
    key: KEY,
    args: ['--replicas', '1', '--http-port', '0'],
  });
  const [one, two] = servers as [ServerProcess, ServerProcess];
  // More than the socket buffers of loopback hold, so a client that stops reading stalls.
  const bytes = randomBytes(32 * 1024 * 1024);
  const put = await fetch(`${base(two)}/files/big.bin`, {
    method: 'PUT',
    headers: auth,
    body: bytes,
  });
  assert.equal(put.status, 201, await put.clone().text());
  await waitForListing(one, 'big.bin');
  const url = `${base(one)}/files/big.bin?proxy=1`;

  // A client that reads the first bytes and leaves.
  const leaving = new AbortController();
  const res = await fetch(url, { headers: auth, signal: leaving.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read();
  leaving.abort();

  // A client that sends the request and never reads the answer.
  const stalled = connect(one.httpPort!, '127.0.0.1');
  t.after(() => stalled.destroy());
  stalled.pause();
  stalled.write(
    `GET /files/big.bin?proxy=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n\r\n`,
  );
  // Paused, it sees its end only once it reads again.
  const dropped = new Promise((resolve) => stalled.once('close', resolve));

  // Both go over the same link from server 1 to server 2 as this one.
  const whole = await fetch(url, { headers: auth });
  assert.equal(whole.status, 200);
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes), 'the whole file, intact');
  // The server gave up on the client that read nothing: it gets a cut answer, then the end.
  let got = 0;
  stalled.on('data', (chunk: Buffer) => (got += chunk.length)).resume();
  await dropped;
  assert.ok(got < bytes.length, `the client that read nothing got all ${got} bytes`);
});
