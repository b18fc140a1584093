/**
 * What a writer says about a version besides its bytes (media type, user
 * metadata, the S3 ETag) is kept in the record on every holder, survives a
 * restart, and follows the rules of an edit: a plain edit keeps the media type
 * and metadata, never the S3 ETag of bytes it replaced. The servers run in this
 * process so the test can call the file service the S3 and WebDAV sides use.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { LanfsServer } from '../../src/server/server.ts';
import type { FileDescription } from '../../src/service/file-service.ts';
import { startInProcess } from '../harness/in-process.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'description-test-key';

function startServer(
  t: TestContext,
  dataDir: string,
  id: number,
  peers: string[],
): Promise<LanfsServer> {
  return startInProcess(t, { dataDir, id, key: KEY, peers });
}

async function write(
  server: LanfsServer,
  name: string,
  bytes: Buffer,
  options: { baseVersion?: number; description?: FileDescription; s3?: boolean } = {},
) {
  const size = bytes.length;
  const handle =
    options.baseVersion === undefined
      ? await server.files.beginCreate({ name, size, description: options.description })
      : await server.files.beginEdit({
          name,
          size,
          baseVersion: options.baseVersion,
          description: options.description,
        });
  await handle.write(bytes);
  const s3ETag = options.s3 ? createHash('md5').update(bytes).digest('hex') : undefined;
  return await handle.finish({ size, s3ETag });
}

test('description - media type, metadata and S3 ETag reach the copy, survive a restart, and an edit keeps only what still holds', async (t) => {
  const [dirOne, dirTwo] = [await tempDir(t), await tempDir(t)];
  const one = await startServer(t, dirOne, 1, []);
  let two = await startServer(t, dirTwo, 2, [one.address]);
  await waitFor(
    'the two servers see each other',
    () => one.view.liveMembers().length,
    (n) => n === 1,
  );

  const bytes = Buffer.from('a photo, say\n');
  const description = {
    contentType: 'image/jpeg',
    metadata: { camera: 'x100', mtime: '1700000000' },
  };
  const created = await write(one, 'photos/a.jpg', bytes, { description, s3: true });
  const md5 = createHash('md5').update(bytes).digest('hex');
  assert.equal(created.s3ETag, md5);
  assert.equal(created.contentType, 'image/jpeg');
  assert.deepEqual(created.metadata, description.metadata);
  assert.deepEqual(created.replicas, [2]);
  const copy = two.catalog.get('photos/a.jpg');
  assert.equal(copy?.s3ETag, md5, 'the copy holder got the S3 ETag with END');
  assert.equal(copy?.contentType, 'image/jpeg');
  assert.deepEqual(copy?.metadata, description.metadata);

  // A restart replays the journal: the description is part of what was made durable.
  await two.stop();
  two = await startServer(t, dirTwo, 2, [one.address]);
  assert.equal(two.catalog.get('photos/a.jpg')?.s3ETag, md5);
  assert.deepEqual(two.catalog.get('photos/a.jpg')?.metadata, description.metadata);

  // A plain edit (no description, not through S3): new bytes, so no S3 ETag; the rest kept.
  await waitFor(
    'server 2 back on server 1',
    () => one.view.liveMembers().length,
    (n) => n === 1,
  );
  const edited = await write(one, 'photos/a.jpg', Buffer.from('retouched\n'), { baseVersion: 1 });
  assert.equal(edited.version, 2);
  assert.equal(edited.s3ETag, undefined);
  assert.equal(edited.contentType, 'image/jpeg');
  assert.deepEqual(edited.metadata, description.metadata);
  await waitFor(
    'version 2 on the copy holder',
    () => two.catalog.get('photos/a.jpg'),
    (r) => r?.version === 2,
  );
  assert.equal(two.catalog.get('photos/a.jpg')?.s3ETag, undefined);
  assert.equal(two.catalog.get('photos/a.jpg')?.contentType, 'image/jpeg');

  // An edit that says what the new version is replaces the description.
  const replaced = await write(one, 'photos/a.jpg', Buffer.from('v3\n'), {
    baseVersion: 2,
    description: { contentType: 'text/plain' },
    s3: true,
  });
  assert.equal(replaced.contentType, 'text/plain');
  assert.equal(replaced.metadata, undefined);
  assert.equal(replaced.s3ETag, createHash('md5').update('v3\n').digest('hex'));
});

test('description - metadata larger than S3 allows is refused before any byte', async (t) => {
  const one = await startServer(t, await tempDir(t), 1, []);
  await assert.rejects(
    write(one, 'big-meta.txt', Buffer.from('x'), {
      description: { metadata: { note: 'y'.repeat(3000) } },
    }),
    /metadata/i,
  );
  assert.equal(one.catalog.get('big-meta.txt'), undefined);
});
