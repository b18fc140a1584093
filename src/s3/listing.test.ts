import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareKeys,
  decodeContinuationToken,
  listBuckets,
  listObjectsV1,
  listObjectsV2,
  listObjectVersions,
  type ObjectEntry,
  type VersionEntry,
} from './listing.ts';
import { S3Error } from './s3-error.ts';

const T = new Date('2024-01-02T03:04:05.000Z');
function entries(keys: string[]): ObjectEntry[] {
  return [...keys]
    .sort(compareKeys)
    .map((key) => ({ key, size: key.length, etag: 'e', lastModified: T }));
}

const KEYS = entries([
  'a.txt',
  'docs/2023/a.pdf',
  'docs/2023/b.pdf',
  'docs/2024/c.pdf',
  'docs/readme',
  'photos/x.jpg',
  'photos/y.jpg',
  'z',
]);

test('listing - prefix and delimiter roll keys up into CommonPrefixes', () => {
  const top = listObjectsV2(KEYS, { delimiter: '/' });
  assert.deepEqual(
    top.contents.map((e) => e.key),
    ['a.txt', 'z'],
  );
  assert.deepEqual(top.commonPrefixes, ['docs/', 'photos/']);
  assert.equal(top.keyCount, 4);
  assert.equal(top.isTruncated, false);
  const docs = listObjectsV2(KEYS, { prefix: 'docs/', delimiter: '/' });
  assert.deepEqual(
    docs.contents.map((e) => e.key),
    ['docs/readme'],
  );
  assert.deepEqual(docs.commonPrefixes, ['docs/2023/', 'docs/2024/']);
  const flat = listObjectsV2(KEYS, { prefix: 'docs/20' });
  assert.deepEqual(
    flat.contents.map((e) => e.key),
    ['docs/2023/a.pdf', 'docs/2023/b.pdf', 'docs/2024/c.pdf'],
  );
});

/** Every page of a listing, following tokens (v2) or markers (v1). */
function allPages(
  list: ObjectEntry[],
  version: 1 | 2,
  params: { prefix?: string; delimiter?: string; maxKeys: number },
): { keys: string[]; prefixes: string[]; pages: number } {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  let marker: string | undefined;
  for (let pages = 1; pages <= 100; pages++) {
    if (version === 2) {
      const page = listObjectsV2(list, { ...params, continuationToken: token });
      keys.push(...page.contents.map((e) => e.key));
      prefixes.push(...page.commonPrefixes);
      assert.ok(page.keyCount <= params.maxKeys);
      if (!page.isTruncated) return { keys, prefixes, pages };
      token = page.nextContinuationToken;
    } else {
      const page = listObjectsV1(list, { ...params, marker });
      keys.push(...page.contents.map((e) => e.key));
      prefixes.push(...page.commonPrefixes);
      if (!page.isTruncated) return { keys, prefixes, pages };
      marker = page.nextMarker;
    }
  }
  throw new Error('the listing did not end');
}

test('listing - paging with any max-keys returns each key and common prefix exactly once', () => {
  for (const delimiter of [undefined, '/', '20']) {
    for (const prefix of [undefined, 'docs/', 'p']) {
      const whole = listObjectsV2(KEYS, { prefix, delimiter });
      for (const maxKeys of [1, 2, 3, 7]) {
        for (const version of [1, 2] as const) {
          const paged = allPages(KEYS, version, { prefix, delimiter, maxKeys });
          const what = `v${version} prefix=${prefix} delimiter=${delimiter} max=${maxKeys}`;
          assert.deepEqual(
            paged.keys,
            whole.contents.map((e) => e.key),
            what,
          );
          assert.deepEqual(paged.prefixes, whole.commonPrefixes, what);
        }
      }
    }
  }
});

test('listing - max-keys caps at 1000 and 0 gives an empty complete page', () => {
  const many = entries(Array.from({ length: 1500 }, (_, i) => `k${String(i).padStart(4, '0')}`));
  const first = listObjectsV2(many, { maxKeys: 5000 });
  assert.equal(first.contents.length, 1000);
  assert.equal(first.isTruncated, true);
  assert.equal(decodeContinuationToken(first.nextContinuationToken!), 'k0999');
  const second = listObjectsV2(many, { continuationToken: first.nextContinuationToken });
  assert.equal(second.contents.length, 500);
  assert.equal(second.isTruncated, false);
  assert.equal(second.nextContinuationToken, undefined);
  const none = listObjectsV2(many, { maxKeys: 0 });
  assert.deepEqual([none.keyCount, none.isTruncated], [0, false]);
});

test('listing - start-after, marker, and a token that wins over start-after', () => {
  assert.deepEqual(
    listObjectsV2(KEYS, { startAfter: 'photos/x.jpg' }).contents.map((e) => e.key),
    ['photos/y.jpg', 'z'],
  );
  assert.deepEqual(listObjectsV1(KEYS, { marker: 'docs/readme', delimiter: '/' }).commonPrefixes, [
    'photos/',
  ]);
  const token = Buffer.from('photos/y.jpg').toString('base64');
  assert.deepEqual(
    listObjectsV2(KEYS, { startAfter: 'a', continuationToken: token }).contents.map((e) => e.key),
    ['z'],
  );
  assert.throws(
    () => listObjectsV2(KEYS, { continuationToken: '!!not base64' }),
    (err: unknown) => err instanceof S3Error && err.code === 'InvalidArgument',
  );
});

test('listing - keys are in UTF-8 byte order, not UTF-16 order', () => {
  // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (F0 ...) in UTF-8, after it in UTF-16.
  const list = entries(['\u{1F600}', '\uFF5E']);
  assert.deepEqual(
    list.map((e) => e.key),
    ['\uFF5E', '\u{1F600}'],
  );
  const page = listObjectsV2(list, { maxKeys: 1 });
  assert.deepEqual(
    listObjectsV2(list, { continuationToken: page.nextContinuationToken }).contents.map(
      (e) => e.key,
    ),
    ['\u{1F600}'],
  );
});

test('listing - object versions page by key marker and version id marker', () => {
  const v = (key: string, versionId: string, isLatest: boolean): VersionEntry => ({
    key,
    versionId,
    isLatest,
    size: 1,
    etag: 'e',
    lastModified: T,
  });
  const versions = [v('a', '3', true), v('a', '2', false), v('a', '1', false), v('b', '1', true)];
  const all = listObjectVersions(versions, {});
  assert.equal(all.contents.length, 4);
  const first = listObjectVersions(versions, { maxKeys: 2 });
  assert.deepEqual([first.nextKeyMarker, first.nextVersionIdMarker], ['a', '2']);
  const rest = listObjectVersions(versions, {
    keyMarker: first.nextKeyMarker,
    versionIdMarker: first.nextVersionIdMarker,
  });
  assert.deepEqual(
    rest.contents.map((e) => `${e.key}@${e.versionId}`),
    ['a@1', 'b@1'],
  );
  assert.deepEqual(
    listObjectVersions(versions, { keyMarker: 'a' }).contents.map((e) => `${e.key}@${e.versionId}`),
    ['b@1'],
  );
});

test('listing - buckets are the top-level folders with valid bucket names, sorted', () => {
  const buckets = listBuckets(
    ['photos', 'Docs', 'ab', 'my-bucket.1', 'has space', 'backup', '.lanfs', '192.168.1.1'].map(
      (name) => ({ name, creationDate: T }),
    ),
  );
  assert.deepEqual(
    buckets.map((b) => b.name),
    ['backup', 'my-bucket.1', 'photos'],
  );
});
