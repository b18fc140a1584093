/**
 * Where S3 lives on the HTTP port: a request is S3 by its SigV4 signature,
 * whatever its path, and nothing else is (an unsigned GET of /BUCKET/KEY is
 * still a 404 of the HTTP API; /files, /api and /dav keep their own auth);
 * /metrics counts S3 requests under route="s3"; the dashboard tells people the
 * WebDAV and S3 addresses and the access key id.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';
import { signedRequest } from './signed-request.ts';

test('s3 endpoint - SigV4 requests are S3 on any path, others are not; /metrics labels them s3; the dashboard shows the WebDAV and S3 addresses', async (t) => {
  const { servers } = await startCluster(t, 1, { args: ['--http-port', '0'] });
  const port = servers[0]!.httpPort!;
  const base = `http://127.0.0.1:${port}`;

  const made = await signedRequest(port, { method: 'PUT', path: '/files', secret: TEST_KEY });
  assert.equal(made.status, 200, `a bucket named "files": ${made.text}`);
  const put = await signedRequest(port, {
    method: 'PUT',
    path: '/files/hello.txt',
    body: 'hello',
    secret: TEST_KEY,
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.headers.etag, '"5d41402abc4b2a76b9719d911017c592"');
  assert.equal(put.headers['x-amz-version-id'], '1');

  // The same path with the cluster key as Bearer is the HTTP API's /files/NAME.
  const api = await fetch(`${base}/files/files/hello.txt`, {
    headers: { Authorization: `Bearer ${TEST_KEY}` },
  });
  assert.equal(api.status, 200);
  assert.equal(await api.text(), 'hello');
  const unsigned = await fetch(`${base}/files/hello.txt`);
  assert.equal(unsigned.status, 401, 'no signature: not S3, and /files/ needs the key');
  const listing = await signedRequest(port, {
    method: 'GET',
    path: '/files',
    query: { 'list-type': '2' },
    secret: TEST_KEY,
  });
  assert.match(listing.text, /<Key>hello\.txt<\/Key>/);
  assert.doesNotMatch(listing.text, /lanfs-folder/);

  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /route="s3"/);

  const page = await (await fetch(`${base}/`)).text();
  assert.match(page, /id="dav-address"/);
  assert.match(page, /location\.origin \+ '\/dav\/'/);
  assert.match(page, /id="s3-address"/);
  assert.match(page, /access key id <code>lanfs<\/code>/);
});

test('s3 endpoint - versionId is the lanfs version: ListObjectVersions shows the current one and the kept ones (issue 14), a kept older one is served, one never kept is NoSuchVersion; under --insecure any secret is taken', async (t) => {
  const { servers } = await startCluster(t, 1, { insecure: true, args: ['--http-port', '0'] });
  const port = servers[0]!.httpPort!;
  const as = (secret: string, o: Omit<Parameters<typeof signedRequest>[1], 'secret'>) =>
    signedRequest(port, { ...o, secret });
  assert.equal((await as('anything', { method: 'PUT', path: '/vers' })).status, 200);
  for (const text of ['one', 'two']) {
    const put = await as('something else', { method: 'PUT', path: '/vers/k', body: text });
    assert.equal(put.status, 200, put.text);
  }
  const versions = await as('x', { method: 'GET', path: '/vers', query: { versions: '' } });
  assert.match(versions.text, /<Key>k<\/Key><VersionId>2<\/VersionId><IsLatest>true<\/IsLatest>/);
  const current = await as('x', { method: 'GET', path: '/vers/k', query: { versionId: '2' } });
  assert.equal(current.text, 'two');
  assert.match(versions.text, /<Key>k<\/Key><VersionId>1<\/VersionId><IsLatest>false<\/IsLatest>/);
  const older = await as('x', { method: 'GET', path: '/vers/k', query: { versionId: '1' } });
  assert.equal(older.status, 200, older.text);
  assert.equal(older.text, 'one');
  const never = await as('x', { method: 'GET', path: '/vers/k', query: { versionId: '9' } });
  assert.equal(never.status, 404);
  assert.match(never.text, /<Code>NoSuchVersion<\/Code>/);
});

test('s3 endpoint - a bucket whose last object is deleted through another server stays a bucket (S3 semantics)', async (t) => {
  const { servers } = await startCluster(t, 2, { args: ['--http-port', '0', '--replicas', '1'] });
  const [one, two] = servers.map((s) => s.httpPort!);
  // Made through the HTTP API on server 2: a folder with no marker, held by server 2 only.
  const made = await fetch(`http://127.0.0.1:${two}/files/keep/only.txt`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${TEST_KEY}` },
    body: 'x',
  });
  assert.equal(made.status, 201);
  await waitFor(
    'server 1 to see the bucket',
    () => signedRequest(one!, { method: 'HEAD', path: '/keep', secret: TEST_KEY }),
    (a) => a.status === 200,
  );
  const deleted = await signedRequest(one!, {
    method: 'POST',
    path: '/keep',
    query: { delete: '' },
    body: '<Delete><Object><Key>only.txt</Key></Object></Delete>',
    headers: {
      'content-md5': createHash('md5')
        .update('<Delete><Object><Key>only.txt</Key></Object></Delete>')
        .digest('base64'),
    },
    secret: TEST_KEY,
  });
  assert.equal(deleted.status, 200, deleted.text);
  assert.match(deleted.text, /<Deleted><Key>only\.txt<\/Key><\/Deleted>/);
  for (const port of [one!, two!]) {
    const listing = await waitFor(
      `server on ${port} to list the emptied bucket`,
      () =>
        signedRequest(port, {
          method: 'GET',
          path: '/keep',
          query: { 'list-type': '2' },
          secret: TEST_KEY,
        }),
      (a) => a.status === 200 && !a.text.includes('only.txt'),
    );
    assert.match(listing.text, /<KeyCount>0<\/KeyCount>/);
  }
});
