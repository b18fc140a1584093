/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- parsed XML is untyped; the assertions check its shape. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { listObjectsV2 } from './listing.ts';
import { S3Error } from './s3-error.ts';
import {
  completeMultipartUploadXml,
  deleteResultXml,
  errorXml,
  listAllMyBucketsXml,
  listBucketV1Xml,
  listBucketV2Xml,
  listPartsXml,
  locationConstraintXml,
  parseCompleteMultipartUpload,
  parseCreateBucketConfiguration,
  parseDeleteRequest,
} from './xml.ts';

const T = new Date('2024-01-02T03:04:05.000Z');
const read = new XMLParser({ parseTagValue: false, ignoreAttributes: false, trimValues: false });

function malformed(fn: () => unknown, code = 'MalformedXML'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof S3Error, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test('xml - the Error document carries code, message, resource and request id, escaped', () => {
  const xml = errorXml({
    code: 'NoSuchKey',
    message: 'The key "a<b>&c" does not exist.',
    resource: '/b/a<b>&c',
    requestId: 'r1',
  });
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error>/);
  assert.match(xml, /a&lt;b&gt;&amp;c/);
  assert.deepEqual(read.parse(xml).Error, {
    Code: 'NoSuchKey',
    Message: 'The key "a<b>&c" does not exist.',
    Resource: '/b/a<b>&c',
    RequestId: 'r1',
  });
});

test('xml - ListBucketResult v2 has the fields clients page with, and url encoding on request', () => {
  const entries = ['a b+c.txt', 'dir/x', 'dir/y', 'é&<.txt'].map((key) => ({
    key,
    size: 3,
    etag: 'abc',
    lastModified: T,
  }));
  const page = listObjectsV2(entries, { delimiter: '/', maxKeys: 2 });
  const xml = listBucketV2Xml({ bucket: 'b1', delimiter: '/', maxKeys: 2 }, page);
  const result = read.parse(xml).ListBucketResult;
  assert.equal(result['@_xmlns'], 'http://s3.amazonaws.com/doc/2006-03-01/');
  assert.equal(result.Name, 'b1');
  assert.equal(result.KeyCount, '2');
  assert.equal(result.MaxKeys, '2');
  assert.equal(result.IsTruncated, 'true');
  assert.equal(result.NextContinuationToken, page.nextContinuationToken);
  assert.equal(result.Contents.Key, 'a b+c.txt');
  assert.equal(result.Contents.ETag, '"abc"');
  assert.equal(result.Contents.LastModified, '2024-01-02T03:04:05.000Z');
  assert.equal(result.CommonPrefixes.Prefix, 'dir/');
  assert.equal(result.StartAfter, undefined);

  const all = listObjectsV2(entries, {});
  const encoded = read.parse(
    listBucketV2Xml({ bucket: 'b1', maxKeys: 1000, encodingType: 'url' }, all),
  ).ListBucketResult;
  assert.equal(encoded.EncodingType, 'url');
  assert.deepEqual(
    encoded.Contents.map((c: { Key: string }) => c.Key),
    ['a%20b%2Bc.txt', 'dir/x', 'dir/y', '%C3%A9%26%3C.txt'],
  );
});

test('xml - ListBucketResult v1 echoes the marker and gives NextMarker when truncated', () => {
  const page = {
    contents: [],
    commonPrefixes: ['p/'],
    isTruncated: true,
    keyCount: 1,
    nextMarker: 'p/',
  };
  const result = read.parse(
    listBucketV1Xml({ bucket: 'b1', marker: 'm', delimiter: '/', maxKeys: 1 }, page),
  ).ListBucketResult;
  assert.deepEqual([result.Marker, result.NextMarker, result.IsTruncated], ['m', 'p/', 'true']);
  assert.equal(result.Contents, undefined);
});

test('xml - buckets, parts, multipart completion, delete results and location build', () => {
  const buckets = read.parse(listAllMyBucketsXml([{ name: 'b1', creationDate: T }]));
  assert.deepEqual(buckets.ListAllMyBucketsResult.Buckets.Bucket, {
    Name: 'b1',
    CreationDate: '2024-01-02T03:04:05.000Z',
  });
  const parts = read.parse(
    listPartsXml({
      bucket: 'b1',
      key: 'k',
      uploadId: 'u',
      partNumberMarker: 0,
      maxParts: 1000,
      isTruncated: false,
      parts: [{ partNumber: 1, lastModified: T, etag: 'e1', size: 5 }],
    }),
  ).ListPartsResult;
  assert.deepEqual(parts.Part, {
    PartNumber: '1',
    LastModified: '2024-01-02T03:04:05.000Z',
    ETag: '"e1"',
    Size: '5',
  });
  const done = read.parse(
    completeMultipartUploadXml({ location: '/s3/b1/k', bucket: 'b1', key: 'k', etag: 'abc-2' }),
  ).CompleteMultipartUploadResult;
  assert.equal(done.ETag, '"abc-2"');
  const deleted = read.parse(
    deleteResultXml({
      deleted: [{ key: 'a' }],
      errors: [{ key: 'b', code: 'AccessDenied', message: 'no' }],
    }),
  ).DeleteResult;
  assert.deepEqual([deleted.Deleted.Key, deleted.Error.Code], ['a', 'AccessDenied']);
  assert.match(locationConstraintXml(), /<LocationConstraint xmlns="[^"]+"><\/LocationConstraint>/);
});

test('xml - Delete bodies keep keys exactly, decode entities and honour Quiet', () => {
  const request = parseDeleteRequest(
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n' +
        '  <Quiet>true</Quiet>\n  <Object><Key> spaced key </Key></Object>\n' +
        '  <Object><Key>a&amp;b&lt;&#233;&#x1F600;</Key><VersionId>7</VersionId></Object>\n</Delete>',
    ),
  );
  assert.deepEqual(request, {
    quiet: true,
    objects: [{ key: ' spaced key ' }, { key: 'a&b<é😀', versionId: '7' }],
  });
  assert.equal(parseDeleteRequest('<Delete><Object><Key>k</Key></Object></Delete>').quiet, false);
});

test('xml - bodies that are not XML, too big, declare entities or break the limits are MalformedXML', () => {
  malformed(() => parseDeleteRequest('this is not xml'));
  malformed(() => parseDeleteRequest('<Delete><Object><Key>k</Key></Delete>'));
  malformed(() => parseDeleteRequest('<Other/>'));
  malformed(() => parseDeleteRequest('<Delete></Delete>'));
  malformed(() => parseDeleteRequest('<Delete><Object><VersionId>1</VersionId></Object></Delete>'));
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>' +
    '<Delete><Object><Key>&lol2;</Key></Object></Delete>';
  malformed(() => parseDeleteRequest(bomb));
  malformed(() => parseDeleteRequest('<!doctype Delete SYSTEM "file:///etc/passwd"><Delete/>'));
  const objects = (n: number): string =>
    `<Delete>${'<Object><Key>k</Key></Object>'.repeat(n)}</Delete>`;
  assert.equal(parseDeleteRequest(objects(1000)).objects.length, 1000);
  malformed(() => parseDeleteRequest(objects(1001)));
  const big = `<Delete><Object><Key>${'k'.repeat(1024 * 1024)}</Key></Object></Delete>`;
  malformed(() => parseDeleteRequest(Buffer.from(big)));
});

test('xml - CompleteMultipartUpload parts come back in order with unquoted ETags', () => {
  const parts = parseCompleteMultipartUpload(
    '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Part><PartNumber>1</PartNumber><ETag>"a1"</ETag><ChecksumCRC32>x</ChecksumCRC32></Part>' +
      '<Part><ETag>&quot;b2&quot;</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>',
  );
  assert.deepEqual(parts, [
    { partNumber: 1, etag: 'a1' },
    { partNumber: 3, etag: 'b2' },
  ]);
  const two = (a: number, b: number): string =>
    `<CompleteMultipartUpload><Part><PartNumber>${a}</PartNumber><ETag>x</ETag></Part><Part><PartNumber>${b}</PartNumber><ETag>y</ETag></Part></CompleteMultipartUpload>`;
  malformed(() => parseCompleteMultipartUpload(two(2, 1)), 'InvalidPartOrder');
  malformed(() => parseCompleteMultipartUpload(two(2, 2)), 'InvalidPartOrder');
  malformed(() => parseCompleteMultipartUpload(two(0, 1)), 'InvalidArgument');
  malformed(() => parseCompleteMultipartUpload('<CompleteMultipartUpload/>'));
  malformed(() =>
    parseCompleteMultipartUpload(
      '<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>',
    ),
  );
});

test('xml - CreateBucketConfiguration is optional', () => {
  assert.deepEqual(parseCreateBucketConfiguration(''), {});
  assert.deepEqual(
    parseCreateBucketConfiguration(
      '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>',
    ),
    { locationConstraint: 'eu-west-1' },
  );
  malformed(() => parseCreateBucketConfiguration('<CreateBucketConfiguration>'));
});
