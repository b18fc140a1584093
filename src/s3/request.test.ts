import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidNameError, NotFoundError, UnavailableError } from '../shared/errors.ts';
import { objectName, splitObjectName } from './object-names.ts';
import { parseCopySource, parseS3Request, type S3Operation } from './request.ts';
import { S3Error, s3ErrorFrom } from './s3-error.ts';

function op(
  method: string,
  url: string,
  headers: IncomingHttpHeaders = {},
  prefix?: string,
): S3Operation {
  const q = url.indexOf('?');
  return parseS3Request(
    {
      method,
      rawPath: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      headers,
    },
    prefix,
  );
}

function fails(code: string, method: string, url: string, headers: IncomingHttpHeaders = {}): void {
  assert.throws(
    () => op(method, url, headers),
    (err: unknown) => {
      assert.ok(err instanceof S3Error, String(err));
      assert.equal(err.code, code, `${method} ${url}: ${err.message}`);
      return true;
    },
  );
}

test('request - service and bucket operations', () => {
  assert.deepEqual(op('GET', '/'), { kind: 'ListBuckets' });
  assert.deepEqual(op('GET', ''), { kind: 'ListBuckets' });
  assert.deepEqual(op('PUT', '/photos'), { kind: 'CreateBucket', bucket: 'photos' });
  assert.deepEqual(op('PUT', '/photos/'), { kind: 'CreateBucket', bucket: 'photos' });
  assert.deepEqual(op('HEAD', '/photos'), { kind: 'HeadBucket', bucket: 'photos' });
  assert.deepEqual(op('DELETE', '/photos'), { kind: 'DeleteBucket', bucket: 'photos' });
  assert.deepEqual(op('GET', '/photos?location'), {
    kind: 'GetBucketLocation',
    bucket: 'photos',
  });
  assert.deepEqual(op('POST', '/photos?delete'), { kind: 'DeleteObjects', bucket: 'photos' });
  assert.deepEqual(op('GET', '/', {}, ''), { kind: 'ListBuckets' });
});

test('request - listings parse their parameters', () => {
  assert.deepEqual(
    op(
      'GET',
      '/bk1?list-type=2&prefix=a%20b%2F&delimiter=%2F&max-keys=5000&continuation-token=YQ%3D%3D&start-after=&encoding-type=url&fetch-owner=true&x-id=ListObjectsV2',
    ),
    {
      kind: 'ListObjectsV2',
      bucket: 'bk1',
      prefix: 'a b/',
      delimiter: '/',
      maxKeys: 1000,
      encodingType: 'url',
      continuationToken: 'YQ==',
      startAfter: undefined,
      fetchOwner: true,
    },
  );
  assert.deepEqual(op('GET', '/bk1?marker=k&max-keys=2'), {
    kind: 'ListObjectsV1',
    bucket: 'bk1',
    prefix: undefined,
    delimiter: undefined,
    maxKeys: 2,
    encodingType: undefined,
    marker: 'k',
  });
  const versions = op('GET', '/bk1?versions&key-marker=a&version-id-marker=3');
  assert.equal(versions.kind, 'ListObjectVersions');
  assert.equal(op('GET', '/bk1?uploads&max-uploads=10').kind, 'ListMultipartUploads');
  fails('InvalidArgument', 'GET', '/bk1?max-keys=-1');
  fails('InvalidArgument', 'GET', '/bk1?max-keys=ten');
  fails('InvalidArgument', 'GET', '/bk1?encoding-type=base64');
});

test('request - object operations and their headers', () => {
  const get = op('GET', '/bk1/dir/caf%C3%A9%20%2B1.txt?versionId=7&response-content-type=x', {
    range: 'bytes=0-9',
  });
  assert.deepEqual(get, {
    kind: 'GetObject',
    bucket: 'bk1',
    key: 'dir/café +1.txt',
    name: 'bk1/dir/café +1.txt',
    versionId: '7',
    range: { first: 0, last: 9 },
  });
  assert.equal(op('HEAD', '/bk1/k?versionId=null').kind, 'HeadObject');
  assert.equal((op('GET', '/bk1/k?versionId=null') as { versionId?: string }).versionId, undefined);
  const put = op('PUT', '/bk1/k', {
    'x-amz-meta-colour': 'blue',
    'X-Amz-Meta-Size': 'L',
    'content-type': 'text/plain',
    'content-md5': Buffer.from('5d41402abc4b2a76b9719d911017c592', 'hex').toString('base64'),
  });
  assert.deepEqual(put, {
    kind: 'PutObject',
    bucket: 'bk1',
    key: 'k',
    name: 'bk1/k',
    metadata: { colour: 'blue', size: 'L' },
    contentType: 'text/plain',
    contentMd5: '5d41402abc4b2a76b9719d911017c592',
  });
  fails('InvalidDigest', 'PUT', '/bk1/k', { 'content-md5': 'not-md5' });
  fails('MetadataTooLarge', 'PUT', '/bk1/k', { 'x-amz-meta-big': 'x'.repeat(2100) });
  assert.deepEqual(op('DELETE', '/bk1/k'), {
    kind: 'DeleteObject',
    bucket: 'bk1',
    key: 'k',
    name: 'bk1/k',
    versionId: undefined,
  });
});

test('request - CopyObject decodes x-amz-copy-source with its versionId', () => {
  const copy = op('PUT', '/bk2/copy', {
    'x-amz-copy-source': '/bk1/dir/a%20b%3Fc.txt?versionId=4',
    'x-amz-metadata-directive': 'REPLACE',
    'x-amz-meta-k': 'v',
  });
  assert.equal(copy.kind, 'CopyObject');
  assert.deepEqual(copy.kind === 'CopyObject' && copy.source, {
    bucket: 'bk1',
    key: 'dir/a b?c.txt',
    name: 'bk1/dir/a b?c.txt',
    versionId: '4',
  });
  assert.equal(copy.kind === 'CopyObject' && copy.metadataDirective, 'REPLACE');
  assert.deepEqual(parseCopySource('bk1/k'), { bucket: 'bk1', key: 'k', name: 'bk1/k' });
  fails('InvalidArgument', 'PUT', '/bk2/copy', { 'x-amz-copy-source': '/bk1' });
  fails('InvalidArgument', 'PUT', '/bk2/copy', {
    'x-amz-copy-source': '/bk1/k',
    'x-amz-metadata-directive': 'MERGE',
  });
});

test('request - multipart upload operations', () => {
  assert.equal(op('POST', '/bk1/big?uploads').kind, 'CreateMultipartUpload');
  assert.deepEqual(op('PUT', '/bk1/big?partNumber=3&uploadId=u1'), {
    kind: 'UploadPart',
    bucket: 'bk1',
    key: 'big',
    name: 'bk1/big',
    uploadId: 'u1',
    partNumber: 3,
    contentMd5: undefined,
  });
  assert.deepEqual(op('POST', '/bk1/big?uploadId=u1'), {
    kind: 'CompleteMultipartUpload',
    bucket: 'bk1',
    key: 'big',
    name: 'bk1/big',
    uploadId: 'u1',
  });
  assert.equal(op('DELETE', '/bk1/big?uploadId=u1').kind, 'AbortMultipartUpload');
  const list = op('GET', '/bk1/big?uploadId=u1&max-parts=2&part-number-marker=1');
  assert.deepEqual(list.kind === 'ListParts' && [list.maxParts, list.partNumberMarker], [2, 1]);
  fails('InvalidArgument', 'PUT', '/bk1/big?partNumber=0&uploadId=u1');
  fails('InvalidArgument', 'PUT', '/bk1/big?partNumber=10001&uploadId=u1');
  fails('InvalidRequest', 'PUT', '/bk1/big?partNumber=1');
  fails('NotImplemented', 'PUT', '/bk1/big?partNumber=1&uploadId=u1', {
    'x-amz-copy-source': '/bk1/k',
  });
});

test('request - what lanfs does not serve is 501 NotImplemented', () => {
  fails('NotImplemented', 'GET', '/bk1?acl');
  fails('NotImplemented', 'PUT', '/bk1?versioning');
  fails('NotImplemented', 'GET', '/bk1/k?versioning');
  // rclone asks before it deletes; lanfs answers "never versioned".
  assert.deepEqual(op('GET', '/bk1?versioning'), { kind: 'GetBucketVersioning', bucket: 'bk1' });
  fails('NotImplemented', 'GET', '/bk1/k?tagging');
  fails('NotImplemented', 'GET', '/bk1/k?tagging=');
  fails('NotImplemented', 'GET', '/bk1/k?somethingNew');
  fails('NotImplemented', 'GET', '/bk1/k?partNumber=1');
  fails('NotImplemented', 'POST', '/bk1');
  fails('NotImplemented', 'POST', '/bk1/k');
  fails('NotImplemented', 'PATCH', '/bk1/k');
  fails('NotImplemented', 'OPTIONS', '/bk1/k');
  fails('NotImplemented', 'DELETE', '/');
  fails('NotImplemented', 'GET', '/bk1?list-type=3');
});

test('request - bucket names follow S3 rules and keys must be lanfs names', () => {
  fails('InvalidBucketName', 'GET', '/Photos');
  fails('InvalidBucketName', 'GET', '/ab');
  fails('InvalidBucketName', 'PUT', '/my_bucket');
  fails('InvalidBucketName', 'GET', '/.lanfs/journal');
  fails('InvalidBucketName', 'GET', '/a..b');
  fails('InvalidArgument', 'PUT', '/bk1/dir/');
  fails('InvalidArgument', 'PUT', '/bk1/a//b');
  fails('InvalidArgument', 'PUT', '/bk1/a/../b');
  fails('InvalidArgument', 'PUT', '/bk1/%2E%2E/x');
  fails('InvalidArgument', 'PUT', '/bk1/a%5Cb');
  fails('InvalidArgument', 'PUT', '/bk1/tab%09');
  fails('KeyTooLongError', 'PUT', `/bk1/${'k'.repeat(1100)}`);
  fails('KeyTooLongError', 'PUT', `/bk1/${'k'.repeat(300)}/x`);
  fails('InvalidURI', 'GET', '/bk1/%E0%A4%A');
  // A front end that serves S3 under a prefix refuses paths outside it.
  assert.throws(
    () => op('GET', '/s3x/bk1', {}, '/s3'),
    (err: unknown) => (err as S3Error).code === 'InvalidURI',
  );
  // Keys arrive in NFC whatever form the client used.
  assert.equal(objectName('bk1', 'cafe\u0301'), 'bk1/caf\u00e9');
  assert.deepEqual(splitObjectName('bk1/dir/k'), { bucket: 'bk1', key: 'dir/k' });
  assert.equal(splitObjectName('top-level-file'), undefined);
  assert.equal(splitObjectName('Not A Bucket/k'), undefined);
});

test('request - lanfs errors become the S3 errors clients expect', () => {
  assert.equal(s3ErrorFrom(new NotFoundError('bk1/k'), '/bk1/k').code, 'NoSuchKey');
  assert.equal(s3ErrorFrom(new NotFoundError('bk1/k')).status, 404);
  assert.equal(s3ErrorFrom(new InvalidNameError('bad')).code, 'InvalidArgument');
  assert.equal(s3ErrorFrom(new UnavailableError('bk1/k', [2])).status, 503);
  const internal = s3ErrorFrom(new Error('secret detail'));
  assert.deepEqual([internal.code, internal.status], ['InternalError', 500]);
  assert.doesNotMatch(internal.message, /secret/);
  const s3 = new S3Error('NoSuchBucket', 'x');
  assert.equal(s3ErrorFrom(s3), s3);
});
