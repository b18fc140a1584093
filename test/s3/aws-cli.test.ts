/**
 * S3 with Debian's aws-cli, a real client nobody here wrote, against a 3-server
 * cluster: make a bucket, copy a small file and a 50 MB one (multipart) up
 * through different servers and back down through another, list, read the
 * metadata back, overwrite through a server that is not the file's primary
 * (forwarded there), presign a URL and fetch it with curl (and see it refused
 * for another key), remove, and remove the bucket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { aws, awsEnv, ok, run } from './s3-clients.ts';

test('s3 - aws-cli: mb, cp up and down (small and 50 MB multipart), ls, head-object metadata, overwrite, presign with curl, rm, rb', async (t) => {
  const { servers } = await startCluster(t, 3, { args: ['--http-port', '0'] });
  const env = await awsEnv(t, TEST_KEY);
  const [a, b, c] = servers.map((s) => aws(env, s.httpPort!));
  const dir = await tempDir(t, 'lanfs-aws-');
  const small = randomBytes(1000);
  const big = randomBytes(50 * 1000 * 1000);
  await writeFile(join(dir, 'small.txt'), small);
  await writeFile(join(dir, 'big.bin'), big);

  await a!.ok('s3', 'mb', 's3://photos');
  await b!.ok(
    's3',
    'cp',
    '--only-show-errors',
    '--content-type',
    'text/plain',
    '--metadata',
    'color=blue,owner=ann',
    join(dir, 'small.txt'),
    's3://photos/notes/small.txt',
  );
  await c!.ok('s3', 'cp', '--only-show-errors', join(dir, 'big.bin'), 's3://photos/big.bin');

  await a!.ok('s3', 'cp', '--only-show-errors', 's3://photos/big.bin', join(dir, 'big.out'));
  assert.ok(big.equals(await readFile(join(dir, 'big.out'))), 'the 50 MB file came back whole');
  await c!.ok(
    's3',
    'cp',
    '--only-show-errors',
    's3://photos/notes/small.txt',
    join(dir, 'small.out'),
  );
  assert.ok(small.equals(await readFile(join(dir, 'small.out'))));

  const listed = (await a!.ok('s3', 'ls', '--recursive', 's3://photos')).stdout;
  assert.match(listed, /\s50000000 big\.bin/);
  assert.match(listed, /\s1000 notes\/small\.txt/);
  assert.doesNotMatch(listed, /lanfs-folder/, 'the bucket marker is not an object');
  assert.match((await b!.ok('s3', 'ls')).stdout, /\sphotos\n/);

  const head = JSON.parse(
    (await a!.ok('s3api', 'head-object', '--bucket', 'photos', '--key', 'notes/small.txt')).stdout,
  ) as { ContentType: string; Metadata: Record<string, string>; ETag: string; VersionId: string };
  assert.equal(head.ContentType, 'text/plain');
  assert.deepEqual(head.Metadata, { color: 'blue', owner: 'ann' });
  assert.equal(head.VersionId, '1');
  const bigHead = JSON.parse(
    (await b!.ok('s3api', 'head-object', '--bucket', 'photos', '--key', 'big.bin')).stdout,
  ) as { ETag: string; ContentLength: number };
  assert.match(bigHead.ETag, /^"[0-9a-f]{32}-\d+"$/, 'a multipart ETag');
  assert.equal(bigHead.ContentLength, big.length);

  // Server 2 made notes/small.txt; a new version sent through server 1 is forwarded there.
  const changed = randomBytes(2000);
  await writeFile(join(dir, 'small.txt'), changed);
  await a!.ok(
    's3',
    'cp',
    '--only-show-errors',
    join(dir, 'small.txt'),
    's3://photos/notes/small.txt',
  );
  await c!.ok('s3', 'cp', '--only-show-errors', 's3://photos/notes/small.txt', join(dir, 'v2.out'));
  assert.ok(changed.equals(await readFile(join(dir, 'v2.out'))));
  const v2 = JSON.parse(
    (await c!.ok('s3api', 'head-object', '--bucket', 'photos', '--key', 'notes/small.txt')).stdout,
  ) as { VersionId: string; Metadata: Record<string, string> };
  assert.equal(v2.VersionId, '2');

  // A presigned URL: curl fetches it; the same signature for another key is refused.
  const url = (
    await c!.ok('s3', 'presign', 's3://photos/notes/small.txt', '--expires-in', '300')
  ).stdout.trim();
  const fetched = await ok('curl', ['-sS', '-f', '-o', join(dir, 'presigned.out'), url], env);
  assert.equal(fetched.code, 0);
  assert.ok(changed.equals(await readFile(join(dir, 'presigned.out'))));
  const other = await run(
    'curl',
    ['-sS', '-w', '\n%{http_code}', url.replace('notes/small.txt', 'big.bin')],
    env,
  );
  assert.match(other.stdout, /<Code>SignatureDoesNotMatch<\/Code>/);
  assert.match(other.stdout, /\n403$/);

  const refused = await b!.run('s3', 'rb', 's3://photos');
  assert.notEqual(refused.code, 0, 'a bucket with objects is not removed');
  assert.match(refused.stderr, /BucketNotEmpty/);
  await b!.ok('s3', 'rm', '--only-show-errors', 's3://photos/notes/small.txt');
  assert.doesNotMatch((await a!.ok('s3', 'ls', '--recursive', 's3://photos')).stdout, /small/);
  await a!.ok('s3', 'rm', '--only-show-errors', 's3://photos/big.bin');
  // Empty, the bucket is still there (S3 semantics), until rb.
  assert.match((await c!.ok('s3', 'ls')).stdout, /\sphotos\n/);
  await c!.ok('s3', 'rb', 's3://photos');
  assert.doesNotMatch((await a!.ok('s3', 'ls')).stdout, /photos/);
});
