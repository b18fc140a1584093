import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from './s3-error.ts';
import { EMPTY_SHA256, sha256Hex, verifyRequestSignature, type SignedRequest } from './sigv4.ts';

const KEY = 'cluster-key-0123456789abcdef';
const NOW = Date.parse('2024-03-01T12:00:00Z');
const HOST = '127.0.0.1:9000';

function signer(secret = KEY, accessKeyId = 'lanfs', region = 'us-east-1'): SignatureV4 {
  // uriEscapePath false: S3 clients sign the path as sent, without double encoding.
  return new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: secret },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
  });
}

/** A path as the AWS SDKs send it: every segment escaped the AWS way (also !'()*). */
function wirePath(segments: string[]): string {
  const escape = (s: string): string =>
    encodeURIComponent(s).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  return '/' + segments.map(escape).join('/');
}

function wireQuery(query: Record<string, string | string[] | null> | undefined): string {
  return Object.entries(query ?? {})
    .flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) =>
        v === null
          ? encodeURIComponent(name)
          : `${encodeURIComponent(name)}=${encodeURIComponent(v)}`,
      ),
    )
    .join('&');
}

interface Unsigned {
  method: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

async function signed(
  req: Unsigned,
  opts: { secret?: string; accessKeyId?: string; region?: string; at?: number } = {},
): Promise<SignedRequest> {
  const out = await signer(opts.secret, opts.accessKeyId, opts.region).sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 9000,
      path: req.path,
      query: req.query ?? {},
      headers: { host: HOST, ...req.headers },
      body: req.body,
    },
    { signingDate: new Date(opts.at ?? NOW) },
  );
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(out.headers)) headers[name.toLowerCase()] = value;
  return {
    method: out.method,
    rawPath: out.path,
    query: wireQuery(out.query),
    headers,
  };
}

async function presigned(
  req: Unsigned,
  opts: { expiresIn?: number; at?: number } = {},
): Promise<SignedRequest> {
  const out = await signer().presign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 9000,
      path: req.path,
      query: req.query ?? {},
      // As @aws-sdk/s3-request-presigner does: the payload of a presigned URL is not signed.
      headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    { signingDate: new Date(opts.at ?? NOW), expiresIn: opts.expiresIn ?? 900 },
  );
  return {
    method: out.method,
    rawPath: out.path,
    query: wireQuery(out.query),
    headers: { host: HOST },
  };
}

function rejects(request: SignedRequest, code: string, now = NOW, message?: RegExp): void {
  assert.throws(
    () => verifyRequestSignature(request, { secretKey: KEY, now }),
    (err: unknown) => {
      assert.ok(err instanceof S3Error, String(err));
      assert.equal(err.code, code, err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

const ODD_KEY = ['s3', 'photos', "2024 holiday (1)!*'~", 'été+#?&=ü 😀.jpg'];

test('sigv4 - accepts what the official signer signs in the Authorization header, under the /s3 prefix', async () => {
  const request = await signed({
    method: 'GET',
    path: wirePath(ODD_KEY),
    headers: { range: 'bytes=0-9', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  const verified = verifyRequestSignature(request, { secretKey: KEY, now: NOW });
  assert.equal(verified.accessKeyId, 'lanfs');
  assert.equal(verified.payloadHash, 'UNSIGNED-PAYLOAD');
  assert.equal(verified.scope, '20240301/us-east-1/s3/aws4_request');
  assert.equal(verified.amzDate, '20240301T120000Z');
  assert.equal(verified.presigned, false);
  assert.match(String(request.headers.authorization), new RegExp(verified.seedSignature));
});

test('sigv4 - accepts a client that escapes fewer characters than AWS, or escapes in lower case', async () => {
  for (const path of ["/s3/b1/it's(1)!*~", '/s3/b1/%c3%a9t%c3%a9']) {
    verifyRequestSignature(await signed({ method: 'GET', path }), { secretKey: KEY, now: NOW });
  }
});

test('sigv4 - accepts a signed listing query with encoded values, and any region', async () => {
  const request = await signed(
    {
      method: 'GET',
      path: '/s3/bucket',
      query: { 'list-type': '2', prefix: "a b/c+d*(')", delimiter: '/', 'encoding-type': 'url' },
    },
    { region: 'eu-west-3' },
  );
  const verified = verifyRequestSignature(request, { secretKey: KEY, now: NOW });
  assert.equal(verified.region, 'eu-west-3');
  // The SDK computes the hash of the (empty) body itself.
  assert.equal(verified.payloadHash, EMPTY_SHA256);
});

test('sigv4 - a PUT signed with the hash of its body exposes that hash for the body check', async () => {
  const body = 'hello lanfs';
  const request = await signed({ method: 'PUT', path: '/s3/b1/k', body });
  const verified = verifyRequestSignature(request, { secretKey: KEY, now: NOW });
  assert.equal(verified.payloadHash, sha256Hex(body));
});

test('sigv4 - any change to a signed request is SignatureDoesNotMatch', async () => {
  const base = await signed({
    method: 'PUT',
    path: wirePath(ODD_KEY),
    query: { partNumber: '1', uploadId: 'abc' },
    headers: { 'x-amz-meta-colour': 'blue', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  verifyRequestSignature(base, { secretKey: KEY, now: NOW });
  rejects({ ...base, method: 'DELETE' }, 'SignatureDoesNotMatch');
  rejects({ ...base, rawPath: base.rawPath.replace('photos', 'photo5') }, 'SignatureDoesNotMatch');
  rejects(
    { ...base, query: base.query.replace('partNumber=1', 'partNumber=2') },
    'SignatureDoesNotMatch',
  );
  rejects({ ...base, query: base.query + '&extra=1' }, 'SignatureDoesNotMatch');
  rejects(
    { ...base, headers: { ...base.headers, 'x-amz-meta-colour': 'red' } },
    'SignatureDoesNotMatch',
  );
  rejects(
    { ...base, headers: { ...base.headers, 'x-amz-content-sha256': EMPTY_SHA256 } },
    'SignatureDoesNotMatch',
  );
  rejects({ ...base, headers: { ...base.headers, host: 'evil:9000' } }, 'SignatureDoesNotMatch');
  const auth = String(base.headers.authorization);
  const flipped = auth.slice(0, -1) + (auth.endsWith('0') ? '1' : '0');
  rejects(
    { ...base, headers: { ...base.headers, authorization: flipped } },
    'SignatureDoesNotMatch',
  );
});

test('sigv4 - a wrong secret is SignatureDoesNotMatch, another access key id InvalidAccessKeyId', async () => {
  rejects(
    await signed({ method: 'GET', path: '/s3/' }, { secret: 'other' }),
    'SignatureDoesNotMatch',
  );
  rejects(
    await signed({ method: 'GET', path: '/s3/' }, { accessKeyId: 'AKIAX' }),
    'InvalidAccessKeyId',
  );
});

test('sigv4 - an x-amz header added after signing is refused', async () => {
  const base = await signed({ method: 'PUT', path: '/s3/b1/k', body: '' });
  rejects(
    { ...base, headers: { ...base.headers, 'x-amz-copy-source': '/b1/secret' } },
    'AccessDenied',
    NOW,
    /not signed: x-amz-copy-source/,
  );
});

test('sigv4 - requests more than 15 minutes off the clock are RequestTimeTooSkewed', async () => {
  const request = await signed({ method: 'GET', path: '/s3/' });
  verifyRequestSignature(request, { secretKey: KEY, now: NOW + 14 * 60_000 });
  verifyRequestSignature(request, { secretKey: KEY, now: NOW - 14 * 60_000 });
  rejects(request, 'RequestTimeTooSkewed', NOW + 16 * 60_000);
  rejects(request, 'RequestTimeTooSkewed', NOW - 16 * 60_000);
});

test('sigv4 - unsigned, SigV2 and malformed requests get their own errors', () => {
  const bare = { method: 'GET', rawPath: '/s3/', query: '', headers: { host: HOST } };
  rejects(bare, 'AccessDenied');
  rejects(
    { ...bare, headers: { ...bare.headers, authorization: 'AWS lanfs:abc=' } },
    'InvalidRequest',
  );
  rejects(
    { ...bare, headers: { ...bare.headers, authorization: 'AWS4-HMAC-SHA256 Credential=lanfs/x' } },
    'AuthorizationHeaderMalformed',
  );
  rejects(
    {
      ...bare,
      headers: {
        ...bare.headers,
        'x-amz-date': '20240301T120000Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=lanfs/20240301/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
      },
    },
    'AuthorizationHeaderMalformed',
  );
});

test('sigv4 - the documented AWS chunked-upload request verifies with its published seed signature', () => {
  // From the AWS S3 API reference, "Example: PUT Object" of sigv4-streaming.
  const request: SignedRequest = {
    method: 'PUT',
    rawPath: '/examplebucket/chunkObject.txt',
    query: '',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
    },
  };
  const options = {
    secretKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    now: Date.parse('2013-05-24T00:05:00Z'),
  };
  // The example's access key id is not ours: it must fail on the id, not on the signature.
  assert.throws(() => verifyRequestSignature(request, options), /access key id/);
  const verified = verifyRequestSignature(request, {
    ...options,
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  });
  assert.equal(
    verified.seedSignature,
    '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  );
  assert.equal(verified.payloadHash, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
  assert.throws(
    () =>
      verifyRequestSignature(
        { ...request, headers: { ...request.headers, 'x-amz-decoded-content-length': '66561' } },
        { ...options, accessKeyId: 'AKIAIOSFODNN7EXAMPLE' },
      ),
    /does not match/,
  );
});

test('sigv4 - a presigned URL from the official signer works for its key and method only', async () => {
  const url = await presigned({ method: 'GET', path: wirePath(ODD_KEY) }, { expiresIn: 600 });
  const verified = verifyRequestSignature(url, { secretKey: KEY, now: NOW + 60_000 });
  assert.equal(verified.presigned, true);
  assert.equal(verified.payloadHash, 'UNSIGNED-PAYLOAD');
  rejects({ ...url, rawPath: wirePath(['s3', 'photos', 'other.jpg']) }, 'SignatureDoesNotMatch');
  rejects({ ...url, method: 'PUT' }, 'SignatureDoesNotMatch');
  rejects({ ...url, method: 'DELETE' }, 'SignatureDoesNotMatch');
  rejects(
    { ...url, query: url.query.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604800') },
    'SignatureDoesNotMatch',
  );
  rejects(url, 'AccessDenied', NOW + 601_000, /Request has expired/);
  rejects(
    { ...url, query: url.query.replace('X-Amz-Credential=lanfs', 'X-Amz-Credential=bob') },
    'InvalidAccessKeyId',
  );
});
