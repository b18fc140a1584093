/**
 * Editing over HTTP (issue 15, the dashboard's editor): PUT /files/NAME with
 * If-Match = the ETag of the version edited saves the next version; a stale
 * ETag gets 412 with the current version; a PUT that arrives at a server other
 * than the acting primary is passed to it; without If-Match, PUT still only
 * creates.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'web-edit-key';
const auth = { Authorization: `Bearer ${KEY}` };
const base = (s: ServerProcess): string => `http://127.0.0.1:${s.httpPort}`;

test(
  'web edit - If-Match saves the next version; a stale ETag is 412 with the current; forwarded to the primary',
  { timeout: 90_000 },
  async (t) => {
    const { servers } = await startCluster(t, 2, {
      key: KEY,
      args: ['--replicas', '2', '--http-port', '0'],
    });
    const [one, two] = [servers[0]!, servers[1]!];
    const url = (s: ServerProcess) => `${base(s)}/files/notes/todo.txt`;
    const put = (s: ServerProcess, body: string, headers: Record<string, string> = {}) =>
      fetch(url(s), { method: 'PUT', headers: { ...auth, ...headers }, body });

    assert.equal((await put(one, 'v1\n')).status, 201);
    const first = await fetch(url(one), { headers: auth });
    const etag1 = first.headers.get('etag')!;
    assert.equal(await first.text(), 'v1\n');

    // Without If-Match: still a create only.
    assert.equal((await put(one, 'again\n')).status, 409);

    // The edit of version 1.
    const saved = await put(one, 'v2\n', { 'If-Match': etag1 });
    assert.equal(saved.status, 200);
    const etag2 = saved.headers.get('etag')!;
    assert.notEqual(etag2, etag1);
    assert.equal(((await saved.json()) as { version: number }).version, 2);

    // Someone else's edit was based on version 1: refused, told what is there now.
    const stale = await put(one, 'mine\n', { 'If-Match': etag1 });
    assert.equal(stale.status, 412);
    const conflict = (await stale.json()) as { current: { version: number }; etag: string };
    assert.equal(conflict.current.version, 2);
    assert.equal(conflict.etag, etag2);
    assert.equal(await (await fetch(url(one), { headers: auth })).text(), 'v2\n');

    // Through server 2 (a copy holder, not the primary): passed to server 1.
    await waitFor(
      'server 2 to hold version 2',
      async () => (await fetch(`${url(two)}?proxy=1`, { headers: auth })).headers.get('etag'),
      (etag) => etag === etag2,
    );
    const via2 = await put(two, 'v3\n', { 'If-Match': etag2 });
    assert.equal(via2.status, 200, await via2.clone().text());
    assert.equal(((await via2.json()) as { version: number; primary: number }).version, 3);
    assert.equal(await (await fetch(url(one), { headers: auth })).text(), 'v3\n');

    // If-Match on a name that does not exist: nothing written.
    const missing = await fetch(`${base(one)}/files/nope.txt`, {
      method: 'PUT',
      headers: { ...auth, 'If-Match': etag1 },
      body: 'x',
    });
    assert.equal(missing.status, 412);
    assert.equal((await fetch(`${base(one)}/files/nope.txt`, { headers: auth })).status, 404);
  },
);
