/**
 * S3 with s3cmd, a real client nobody here wrote (SigV4, its own config file):
 * put, ls, get and del against a 3-server cluster, reading back through a
 * server that does not hold the file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { s3cmd } from './s3-clients.ts';

test('s3 - s3cmd: mb, put, ls, get through another server, del, rb', async (t) => {
  const { servers } = await startCluster(t, 3, { args: ['--http-port', '0', '--replicas', '1'] });
  const [a, b] = await Promise.all(
    servers.slice(0, 2).map(async (s) => await s3cmd(t, TEST_KEY, s.httpPort!)),
  );
  const dir = await tempDir(t, 'lanfs-s3cmd-');
  const bytes = randomBytes(300_000);
  await writeFile(join(dir, 'report.pdf'), bytes);

  await a!.ok('mb', 's3://docs');
  await a!.ok('put', join(dir, 'report.pdf'), 's3://docs/2026/report.pdf');
  assert.match(
    (await b!.ok('ls', 's3://docs/2026/')).stdout,
    /300000\s+s3:\/\/docs\/2026\/report\.pdf/,
  );
  assert.match((await b!.ok('ls')).stdout, /s3:\/\/docs\n/);
  // With one copy, server 2 does not hold the file: it streams it from server 1.
  await b!.ok('get', 's3://docs/2026/report.pdf', join(dir, 'back.pdf'));
  assert.ok(bytes.equals(await readFile(join(dir, 'back.pdf'))));
  await b!.ok('del', 's3://docs/2026/report.pdf');
  assert.doesNotMatch((await a!.ok('ls', '--recursive', 's3://docs')).stdout, /report/);
  await b!.ok('rb', 's3://docs');
  assert.doesNotMatch((await a!.ok('ls')).stdout, /docs/);
});
