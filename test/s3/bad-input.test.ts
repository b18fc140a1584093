/**
 * What an S3 client may get wrong, or try: a bad signature, an expired
 * presigned URL, a presigned URL used for another key, a key with `..`, a body
 * that does not match its Content-MD5, x-amz-content-sha256 or trailing
 * checksum, parts too small, and a multipart upload never completed (removed
 * after --multipart-expiry). One clear S3 error each, nothing written, and the
 * servers keep serving. Also the body forms current SDKs send (aws-chunked
 * with a trailing CRC32) and a multipart upload whose requests go to three
 * different servers.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { exportedFiles, tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';
import { aws, awsEnv, run } from './s3-clients.ts';
import { signedRequest, type S3Answer } from './signed-request.ts';

function code(answer: S3Answer): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(answer.text)?.[1];
}

test('s3 - bad signatures, presigned URLs out of bounds, bad keys and bad bodies: one S3 error each, nothing written', async (t) => {
  const { servers, data } = await startCluster(t, 2, { args: ['--http-port', '0'] });
  const port = servers[0]!.httpPort!;
  const env = await awsEnv(t, TEST_KEY);
  const a = aws(env, port);
  await a.ok('s3', 'mb', 's3://box');
  const dir = await tempDir(t, 'lanfs-s3-bad-');
  await writeFile(join(dir, 'x.bin'), randomBytes(100));
  await a.ok('s3', 'cp', '--only-show-errors', join(dir, 'x.bin'), 's3://box/x.bin');
  const before = await exportedFiles(data(0));

  // A bad signature: 403 SignatureDoesNotMatch with S3's XML error body.
  const wrong = await aws(await awsEnv(t, 'not-the-key'), port).run(
    's3',
    'cp',
    join(dir, 'x.bin'),
    's3://box/y.bin',
  );
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /SignatureDoesNotMatch/);
  const forged = await signedRequest(port, {
    method: 'PUT',
    path: '/box/y.bin',
    body: 'hello',
    secret: 'not-the-key',
  });
  assert.equal(forged.status, 403);
  assert.equal(code(forged), 'SignatureDoesNotMatch');
  assert.match(forged.text, /<RequestId>[0-9A-F]+<\/RequestId>/);
  assert.match(String(forged.headers['content-type']), /xml/);

  // A presigned URL that expired, and one used for another key.
  const expiring = (
    await a.ok('s3', 'presign', 's3://box/x.bin', '--expires-in', '1')
  ).stdout.trim();
  const expired = await waitFor(
    'the presigned URL to expire',
    () => run('curl', ['-sS', expiring], env),
    (r) => r.stdout.includes('<Code>AccessDenied</Code>'),
  );
  assert.match(expired.stdout, /expired/);
  const url = (await a.ok('s3', 'presign', 's3://box/x.bin')).stdout.trim();
  const moved = await run(
    'curl',
    ['-sS', '-w', '\n%{http_code}', url.replace('x.bin', 'z.bin')],
    env,
  );
  assert.match(moved.stdout, /<Code>SignatureDoesNotMatch<\/Code>[\s\S]*\n403$/);

  // Keys lanfs cannot hold, and the folder marker: 400 before anything is written.
  for (const path of [
    '/box/a/../escape.bin',
    '/box/%2E%2E/escape.bin',
    '/box/a//b',
    '/box/.lanfs-folder',
  ]) {
    const answer = await signedRequest(port, { method: 'PUT', path, body: 'x', secret: TEST_KEY });
    assert.equal(answer.status, 400, `${path}: ${answer.text}`);
    assert.equal(code(answer), 'InvalidArgument', path);
  }

  // Bodies that do not match what the client vouched for.
  const body = randomBytes(3000);
  const badMd5 = await signedRequest(port, {
    method: 'PUT',
    path: '/box/md5.bin',
    body,
    headers: { 'content-md5': createHash('md5').update('other').digest('base64') },
    secret: TEST_KEY,
  });
  assert.equal(code(badMd5), 'BadDigest', badMd5.text);
  const badSha = await signedRequest(port, {
    method: 'PUT',
    path: '/box/sha.bin',
    body,
    payloadHash: createHash('sha256').update('other').digest('hex'),
    secret: TEST_KEY,
  });
  assert.equal(code(badSha), 'XAmzContentSHA256Mismatch', badSha.text);
  const badCrc = await signedRequest(port, {
    method: 'PUT',
    path: '/box/crc.bin',
    body,
    headers: { 'x-amz-checksum-crc32': 'AAAAAA==' },
    secret: TEST_KEY,
  });
  assert.equal(code(badCrc), 'BadDigest', badCrc.text);
  // The same checks on a body large enough to be hashed on the hash thread.
  const large = randomBytes(9 * 1024 * 1024);
  const md5Of = (b: Buffer): string => createHash('md5').update(b).digest('base64');
  const sha256Of = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  for (const [name, headers, payloadHash, expected] of [
    ['md5-large.bin', { 'content-md5': md5Of(body) }, sha256Of(large), 'BadDigest'],
    ['sha-large.bin', { 'content-md5': md5Of(large) }, sha256Of(body), 'XAmzContentSHA256Mismatch'],
  ] as const) {
    const answer = await signedRequest(port, {
      method: 'PUT',
      path: `/box/${name}`,
      body: large,
      headers,
      payloadHash,
      secret: TEST_KEY,
    });
    assert.equal(code(answer), expected, answer.text);
  }
  const goodLarge = await signedRequest(port, {
    method: 'PUT',
    path: '/box/good-large.bin',
    body: large,
    headers: { 'content-md5': md5Of(large) },
    payloadHash: sha256Of(large),
    secret: TEST_KEY,
  });
  assert.equal(goodLarge.status, 200, goodLarge.text);
  assert.equal(goodLarge.headers.etag, `"${createHash('md5').update(large).digest('hex')}"`);
  // A large part: its MD5 (its ETag, checked against Content-MD5) is taken on the thread.
  const started = await signedRequest(port, {
    method: 'POST',
    path: '/box/parted.bin',
    query: { uploads: '' },
    secret: TEST_KEY,
  });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(started.text)?.[1] ?? '';
  const part = (headers: Record<string, string>) =>
    signedRequest(port, {
      method: 'PUT',
      path: '/box/parted.bin',
      query: { partNumber: '1', uploadId },
      body: large,
      headers,
      payloadHash: sha256Of(large),
      secret: TEST_KEY,
    });
  const badPart = await part({ 'content-md5': md5Of(body) });
  assert.equal(code(badPart), 'BadDigest', badPart.text);
  const goodPart = await part({});
  assert.equal(goodPart.status, 200, goodPart.text);
  assert.equal(goodPart.headers.etag, `"${createHash('md5').update(large).digest('hex')}"`);
  const dropped = await signedRequest(port, {
    method: 'DELETE',
    path: '/box/parted.bin',
    query: { uploadId },
    secret: TEST_KEY,
  });
  assert.equal(dropped.status, 204, dropped.text);
  const chunked = (data: Buffer, crc: number): Buffer => {
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc >>> 0);
    return Buffer.concat([
      Buffer.from(`${data.length.toString(16)}\r\n`),
      data,
      Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${sum.toString('base64')}\r\n\r\n`),
    ]);
  };
  const streamed = (data: Buffer, crc: number, key: string): Promise<S3Answer> =>
    signedRequest(port, {
      method: 'PUT',
      path: `/box/${key}`,
      body: chunked(data, crc),
      payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      headers: {
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      },
      secret: TEST_KEY,
    });
  const badTrailer = await streamed(body, crc32(body) + 1, 'trailer.bin');
  assert.equal(code(badTrailer), 'BadDigest', badTrailer.text);

  assert.deepEqual(
    await exportedFiles(data(0)),
    [...before, 'box/good-large.bin'].sort(),
    'nothing but the good large body was written',
  );

  // The same body with its right checksum, as current SDKs send it, is stored.
  const good = await streamed(body, crc32(body), 'sdk.bin');
  assert.equal(good.status, 200, good.text);
  assert.equal(good.headers.etag, `"${createHash('md5').update(body).digest('hex')}"`);
  const back = await signedRequest(servers[1]!.httpPort!, {
    method: 'GET',
    path: '/box/sdk.bin',
    headers: { range: 'bytes=10-19' },
    secret: TEST_KEY,
  });
  assert.equal(back.status, 206);
  assert.ok(back.body.equals(body.subarray(10, 20)));
  assert.match((await a.ok('s3', 'ls', 's3://box')).stdout, /sdk\.bin/, 'still serving');
});

test('s3 - a multipart upload spread over three servers completes; one with a small part is refused; one never completed is removed after --multipart-expiry', async (t) => {
  // The expiry gets a server of its own: a 2 s expiry on these would race the slow
  // aws-cli calls of the completed upload on a busy machine.
  const { servers, data } = await startCluster(t, 3, { args: ['--http-port', '0'] });
  const env = await awsEnv(t, TEST_KEY);
  const [a, b, c] = servers.map((s) => aws(env, s.httpPort!));
  const dir = await tempDir(t, 'lanfs-s3-mp-');
  await a!.ok('s3', 'mb', 's3://parts');
  const json = async (p: Promise<{ stdout: string }>): Promise<Record<string, unknown>> =>
    JSON.parse((await p).stdout) as Record<string, unknown>;
  const part1 = randomBytes(5 * 1024 * 1024);
  const part2 = randomBytes(1234);
  await writeFile(join(dir, 'p1'), part1);
  await writeFile(join(dir, 'p2'), part2);

  // Started on server 1; parts sent to servers 2 and 3 are forwarded to it.
  const { UploadId: uploadId } = await json(
    a!.ok('s3api', 'create-multipart-upload', '--bucket', 'parts', '--key', 'joined.bin'),
  );
  assert.match(String(uploadId), /^1-[0-9a-f]{32}$/);
  const upload = (via: typeof a, n: number, file: string) =>
    json(
      via!.ok(
        's3api',
        'upload-part',
        '--bucket',
        'parts',
        '--key',
        'joined.bin',
        '--upload-id',
        String(uploadId),
        '--part-number',
        String(n),
        '--body',
        join(dir, file),
      ),
    );
  const e1 = (await upload(b, 1, 'p1')).ETag;
  const e2 = (await upload(c, 2, 'p2')).ETag;
  const listed = await json(
    b!.ok(
      's3api',
      'list-parts',
      '--bucket',
      'parts',
      '--key',
      'joined.bin',
      '--upload-id',
      String(uploadId),
    ),
  );
  assert.deepEqual(
    (listed.Parts as { PartNumber: number; Size: number }[]).map((p) => [p.PartNumber, p.Size]),
    [
      [1, part1.length],
      [2, part2.length],
    ],
  );
  const parts = JSON.stringify({
    Parts: [
      { PartNumber: 1, ETag: e1 },
      { PartNumber: 2, ETag: e2 },
    ],
  });
  const done = await json(
    c!.ok(
      's3api',
      'complete-multipart-upload',
      '--bucket',
      'parts',
      '--key',
      'joined.bin',
      '--upload-id',
      String(uploadId),
      '--multipart-upload',
      parts,
    ),
  );
  assert.match(String(done.ETag), /-2"$/);
  await b!.ok('s3', 'cp', '--only-show-errors', 's3://parts/joined.bin', join(dir, 'joined.out'));
  assert.ok(Buffer.concat([part1, part2]).equals(await readFile(join(dir, 'joined.out'))));

  // Every part but the last must hold 5 MiB: EntityTooSmall, nothing written.
  const small = await json(
    a!.ok('s3api', 'create-multipart-upload', '--bucket', 'parts', '--key', 'small.bin'),
  );
  const smallUpload = (n: number) =>
    json(
      a!.ok(
        's3api',
        'upload-part',
        '--bucket',
        'parts',
        '--key',
        'small.bin',
        '--upload-id',
        String(small.UploadId),
        '--part-number',
        String(n),
        '--body',
        join(dir, 'p2'),
      ),
    );
  const s1 = (await smallUpload(1)).ETag;
  const s2 = (await smallUpload(2)).ETag;
  const refused = await a!.run(
    's3api',
    'complete-multipart-upload',
    '--bucket',
    'parts',
    '--key',
    'small.bin',
    '--upload-id',
    String(small.UploadId),
    '--multipart-upload',
    JSON.stringify({
      Parts: [
        { PartNumber: 1, ETag: s1 },
        { PartNumber: 2, ETag: s2 },
      ],
    }),
  );
  assert.match(refused.stderr, /EntityTooSmall/);
  assert.ok(!(await exportedFiles(data(0))).includes('parts/small.bin'));

  // Never completed: removed after --multipart-expiry, parts and all.
  const lone = await startCluster(t, 1, {
    args: ['--http-port', '0', '--multipart-expiry', '3s'],
  });
  const l = aws(env, lone.servers[0]!.httpPort!);
  await l.ok('s3', 'mb', 's3://parts');
  const abandoned = await json(
    l.ok('s3api', 'create-multipart-upload', '--bucket', 'parts', '--key', 'small.bin'),
  );
  const uploads = join(lone.data(0), '.lanfs', 'multipart');
  assert.ok((await readdir(uploads)).length <= 1);
  await waitFor(
    'the abandoned upload to be removed',
    () => readdir(uploads),
    (left) => left.length === 0,
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  const gone = await l.run(
    's3api',
    'upload-part',
    '--bucket',
    'parts',
    '--key',
    'small.bin',
    '--upload-id',
    String(abandoned.UploadId),
    '--part-number',
    '3',
    '--body',
    join(dir, 'p2'),
  );
  assert.match(gone.stderr, /NoSuchUpload/);
  // aws prints nothing at all for an answer with no uploads.
  const none = (await l.ok('s3api', 'list-multipart-uploads', '--bucket', 'parts')).stdout;
  assert.doesNotMatch(none, /UploadId/);
  assert.ok(!(await exportedFiles(lone.data(0))).includes('parts/small.bin'));
});
