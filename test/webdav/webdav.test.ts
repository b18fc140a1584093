/**
 * WebDAV details real clients do not show on their own, with a real cluster:
 * Basic and Bearer auth (401 with a Basic challenge), bad input refused with
 * nothing written (.., bad or oversized XML, a DOCTYPE, Depth: infinity), empty
 * folders kept by a hidden marker, a file held elsewhere streamed through with
 * Range, and a lock honoured cluster-wide: LOCK, PUT and UNLOCK of a file whose
 * primary is another server are forwarded there.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { test } from 'node:test';
import type { ServerProcess } from '../harness/cli.ts';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const basic = `Basic ${Buffer.from(`anyone:${TEST_KEY}`).toString('base64')}`;

function dav(s: ServerProcess, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${s.httpPort}/dav/${path}`, {
    ...init,
    headers: { Authorization: basic, ...(init.headers as Record<string, string>) },
  });
}

async function names(s: ServerProcess): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/api/files`, {
    headers: { Authorization: `Bearer ${TEST_KEY}` },
  });
  return ((await res.json()) as { name: string }[]).map((f) => f.name).sort();
}

const LOCKINFO =
  '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>';

test('webdav - auth: Basic with the key as password or Bearer; none or a wrong one is 401 with a Basic challenge', async (t) => {
  const { servers } = await startCluster(t, 1, { args: ['--http-port', '0'] });
  const url = `http://127.0.0.1:${servers[0]!.httpPort}/dav/`;
  let res = await fetch(url, { method: 'PROPFIND', headers: { Depth: '0' } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Basic realm="lanfs"');
  const wrong = `Basic ${Buffer.from('anyone:not-the-key').toString('base64')}`;
  res = await fetch(url, { method: 'PROPFIND', headers: { Depth: '0', Authorization: wrong } });
  assert.equal(res.status, 401);
  res = await fetch(url, { method: 'PROPFIND', headers: { Depth: '0', Authorization: basic } });
  assert.equal(res.status, 207);
  res = await fetch(url, {
    method: 'PROPFIND',
    headers: { Depth: '0', Authorization: `Bearer ${TEST_KEY}` },
  });
  assert.equal(res.status, 207);
  res = await fetch(url, { method: 'OPTIONS', headers: { Authorization: basic } });
  assert.equal(res.headers.get('dav'), '1, 2');
  assert.match(res.headers.get('allow') ?? '', /PROPFIND/);
});

test('webdav - bad input: .., bad or oversized XML, a DOCTYPE, Depth infinity: one clear error each, nothing written', async (t) => {
  const { servers } = await startCluster(t, 1, { args: ['--http-port', '0'] });
  const s = servers[0]!;
  assert.equal((await dav(s, 'ok', { method: 'MKCOL' })).status, 201);
  // fetch resolves ".." (and %2e%2e) itself: send the raw paths with node:http.
  const rawStatus = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: s.httpPort,
          method: 'PUT',
          path,
          headers: { Authorization: basic },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('x');
    });
  assert.equal(await rawStatus('/dav/ok/../escape'), 400);
  assert.equal(await rawStatus('/dav/ok/%2e%2e/escape'), 400);
  // Out of /dav/ altogether: no route (404), nothing written.
  assert.equal(await rawStatus('/dav/../escape'), 404);
  assert.equal((await dav(s, 'ok/.lanfs-folder', { method: 'PUT', body: 'x' })).status, 403);
  assert.equal((await dav(s, 'ok/a%5Cb', { method: 'PUT', body: 'x' })).status, 400);

  for (const body of [
    'not xml at all',
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:"><D:prop>&b;</D:prop></D:propfind>',
    `<D:propfind xmlns:D="DAV:"><D:prop>${'<D:getetag/>'.repeat(100_000)}</D:prop></D:propfind>`,
  ]) {
    const res = await dav(s, 'ok/', { method: 'PROPFIND', headers: { Depth: '1' }, body });
    assert.equal(res.status, 400, body.slice(0, 40));
    assert.match(await res.text(), /\.\n$/);
  }
  const infinity = await dav(s, 'ok/', { method: 'PROPFIND', headers: { Depth: 'infinity' } });
  assert.equal(infinity.status, 403);
  assert.match(await infinity.text(), /<D:propfind-finite-depth\/>/);
  assert.equal((await dav(s, 'ok/x', { method: 'LOCK', body: '<nope' })).status, 400);
  assert.deepEqual(await names(s), ['ok/.lanfs-folder'], 'nothing was written');
  // The server keeps serving.
  assert.equal((await dav(s, 'ok/', { method: 'PROPFIND', headers: { Depth: '0' } })).status, 207);
});

test('webdav - an empty folder is kept by a hidden marker until a file lands in it, and again when its last file goes', async (t) => {
  const { servers } = await startCluster(t, 1, { args: ['--http-port', '0'] });
  const s = servers[0]!;
  assert.equal((await dav(s, 'empty', { method: 'MKCOL' })).status, 201);
  assert.equal((await dav(s, 'empty', { method: 'MKCOL' })).status, 405);
  assert.equal((await dav(s, 'nowhere/sub', { method: 'MKCOL' })).status, 409);
  assert.equal((await dav(s, 'nowhere/file', { method: 'PUT', body: 'x' })).status, 409);
  let listing = await (await dav(s, '', { method: 'PROPFIND', headers: { Depth: '1' } })).text();
  assert.match(listing, /<D:href>\/dav\/empty\/<\/D:href>.*?<D:collection\/>/);
  listing = await (await dav(s, 'empty/', { method: 'PROPFIND', headers: { Depth: '1' } })).text();
  assert.doesNotMatch(listing, /lanfs-folder/);
  assert.equal((await dav(s, 'empty/a.txt', { method: 'PUT', body: 'hello' })).status, 201);
  assert.deepEqual(await names(s), ['empty/a.txt']);
  assert.equal((await dav(s, 'empty/a.txt', { method: 'DELETE' })).status, 204);
  assert.deepEqual(await names(s), ['empty/.lanfs-folder']);
  assert.equal((await dav(s, 'empty/', { method: 'DELETE' })).status, 204);
  assert.deepEqual(await names(s), []);
});

test('webdav - a file held elsewhere is streamed through, and its lock is honoured on every server', async (t) => {
  const { servers } = await startCluster(t, 3, { args: ['--http-port', '0', '--replicas', '1'] });
  const [one, two, three] = servers as [ServerProcess, ServerProcess, ServerProcess];
  const bytes = randomBytes(600_000);
  assert.equal((await dav(two, 'far.bin', { method: 'PUT', body: bytes })).status, 201);
  await waitFor(
    'server 1 and 3 to list far.bin',
    async () => [await names(one), await names(three)],
    (lists) => lists.every((l) => l.includes('far.bin')),
  );

  const ranged = await dav(one, 'far.bin', { headers: { Range: 'bytes=1000-1999' } });
  assert.equal(ranged.status, 206);
  assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(1000, 2000));
  const whole = await dav(three, 'far.bin');
  assert.equal(whole.status, 200);
  assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);

  // Locked through server 1: the lock lives on server 2, the primary.
  const locked = await dav(one, 'far.bin', {
    method: 'LOCK',
    headers: { Timeout: 'Second-60' },
    body: LOCKINFO,
  });
  assert.equal(locked.status, 200, await locked.clone().text());
  const token = locked.headers.get('lock-token')!;
  assert.match(token, /^<opaquelocktoken:[0-9a-f-]{36}>$/);
  const edit = randomBytes(10);
  assert.equal((await dav(three, 'far.bin', { method: 'PUT', body: edit })).status, 423);
  assert.equal((await dav(one, 'far.bin', { method: 'DELETE' })).status, 423);
  assert.equal(
    (await dav(three, 'far.bin', { method: 'LOCK', body: LOCKINFO })).status,
    423,
    'a second exclusive lock through another server',
  );
  const put = await dav(three, 'far.bin', {
    method: 'PUT',
    body: edit,
    headers: { If: `(${token})` },
  });
  assert.equal(put.status, 204);
  assert.equal(
    (await dav(three, 'far.bin', { method: 'UNLOCK', headers: { 'Lock-Token': token } })).status,
    204,
  );
  assert.equal((await dav(one, 'far.bin', { method: 'DELETE' })).status, 204);
  await waitFor(
    'far.bin gone everywhere',
    () => names(three),
    (l) => !l.includes('far.bin'),
  );
});

test('webdav - COPY and MOVE of a file of many chunks keep every byte; a range of it reads back exact', async (t) => {
  const { servers } = await startCluster(t, 1, { args: ['--http-port', '0'] });
  const s = servers[0]!;
  // Past what is kept in memory, and past 4 MiB: GETs read it past the page cache.
  const bytes = randomBytes(5 * 1024 * 1024 + 4321);
  assert.equal((await dav(s, 'big.bin', { method: 'PUT', body: bytes })).status, 201);
  const to = (name: string) => ({ Destination: `http://127.0.0.1:${s.httpPort}/dav/${name}` });
  assert.equal((await dav(s, 'big.bin', { method: 'COPY', headers: to('copy.bin') })).status, 201);
  assert.equal(
    (await dav(s, 'copy.bin', { method: 'MOVE', headers: to('moved.bin') })).status,
    201,
  );
  const back = Buffer.from(await (await dav(s, 'moved.bin')).arrayBuffer());
  assert.equal(back.length, bytes.length);
  assert.ok(back.equals(bytes), 'the copy moved has the bytes of the original');
  assert.deepEqual(await names(s), ['big.bin', 'moved.bin']);
  // A range starting inside a disk block, longer than one read.
  const ranged = await dav(s, 'big.bin', { headers: { Range: 'bytes=1000001-5000000' } });
  assert.equal(ranged.status, 206);
  assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(1000001, 5000001)));
});
