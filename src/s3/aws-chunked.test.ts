import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { AwsChunkedDecoder, type AwsChunkedOptions } from './aws-chunked.ts';
import { S3Error } from './s3-error.ts';
import { deriveSigningKey, PAYLOAD_HASH } from './sigv4.ts';

// The worked examples of the AWS S3 API reference (sigv4-streaming and
// sigv4-streaming-trailers): 66560 bytes of "a" in a 64 KiB and a 1 KiB chunk.
const EXAMPLE_KEY = deriveSigningKey(
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  '20130524',
  'us-east-1',
  's3',
);
const EXAMPLE = {
  signingKey: EXAMPLE_KEY,
  amzDate: '20130524T000000Z',
  scope: '20130524/us-east-1/s3/aws4_request',
};
const DATA = Buffer.alloc(66560, 'a');

function chunk(size: number, signature?: string, data = Buffer.alloc(size, 'a')): Buffer {
  const ext = signature === undefined ? '' : `;chunk-signature=${signature}`;
  return Buffer.concat([Buffer.from(`${size.toString(16)}${ext}\r\n`), data, Buffer.from('\r\n')]);
}

function signedBody(): Buffer {
  return Buffer.concat([
    chunk(65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648'),
    chunk(1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497'),
    Buffer.from(
      '0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n',
    ),
  ]);
}
const SIGNED: AwsChunkedOptions = {
  request: {
    ...EXAMPLE,
    payloadHash: PAYLOAD_HASH.streamingSigned,
    seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  },
  decodedContentLength: 66560,
};

function signedTrailerBody(): Buffer {
  return Buffer.concat([
    chunk(65536, 'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2'),
    chunk(1024, '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7'),
    Buffer.from(
      '0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n' +
        'x-amz-checksum-crc32c:sOO8/Q==\r\n' +
        'x-amz-trailer-signature:63bddb248ad2590c92712055f51b8e78ab024eead08276b24f010b0efd74843f\r\n' +
        '\r\n',
    ),
  ]);
}
const SIGNED_TRAILER: AwsChunkedOptions = {
  request: {
    ...EXAMPLE,
    payloadHash: PAYLOAD_HASH.streamingSignedTrailer,
    seedSignature: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
  },
  decodedContentLength: 66560,
  trailerNames: ['x-amz-checksum-crc32c'],
};

/** Feeds `body` in pieces of the given sizes (cycled), returns the decoded bytes. */
async function decode(
  body: Buffer,
  options: AwsChunkedOptions,
  pieces = [body.length],
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const size = Math.max(1, pieces[i % pieces.length]!);
    parts.push(body.subarray(at, at + size));
    at += size;
  }
  const out: Buffer[] = [];
  const decoder = Readable.from(parts, { objectMode: false }).pipe(new AwsChunkedDecoder(options));
  for await (const data of decoder) out.push(data as Buffer);
  return Buffer.concat(out);
}

async function failsWith(body: Buffer, options: AwsChunkedOptions, code: string): Promise<void> {
  await assert.rejects(decode(body, options), (err: unknown) => {
    assert.ok(err instanceof S3Error, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test('aws-chunked - decodes the AWS signed example, whole and split at every kind of boundary', async () => {
  for (const pieces of [[Infinity], [1], [7, 85, 3], [65536 + 87], [4096]]) {
    const data = await decode(signedBody(), SIGNED, pieces);
    assert.ok(data.equals(DATA), `pieces ${pieces.join(',')}`);
  }
});

test('aws-chunked - a changed byte, signature or chunk order is SignatureDoesNotMatch', async () => {
  const changedData = signedBody();
  changedData[66000] = 'b'.charCodeAt(0);
  await failsWith(changedData, SIGNED, 'SignatureDoesNotMatch');
  const changedSignature = Buffer.from(
    signedBody().toString('latin1').replace('ad80c7', 'ad80c8'),
    'latin1',
  );
  await failsWith(changedSignature, SIGNED, 'SignatureDoesNotMatch');
  const swapped = Buffer.concat([
    chunk(1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497'),
    chunk(65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648'),
    Buffer.from(
      '0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n',
    ),
  ]);
  await failsWith(swapped, SIGNED, 'SignatureDoesNotMatch');
  await failsWith(
    signedBody(),
    { ...SIGNED, request: { ...SIGNED.request, seedSignature: '0'.repeat(64) } },
    'SignatureDoesNotMatch',
  );
  const unsignedChunks = Buffer.concat([chunk(66560), Buffer.from('0\r\n\r\n')]);
  await failsWith(unsignedChunks, SIGNED, 'SignatureDoesNotMatch');
});

test('aws-chunked - a cut-off body is IncompleteBody, a wrong length or framing InvalidRequest', async () => {
  const body = signedBody();
  await failsWith(body.subarray(0, 66000), SIGNED, 'IncompleteBody');
  await failsWith(body.subarray(0, body.length - 4), SIGNED, 'IncompleteBody');
  await failsWith(body.subarray(0, 65536 + 87), SIGNED, 'IncompleteBody');
  await failsWith(body, { ...SIGNED, decodedContentLength: 66561 }, 'IncompleteBody');
  await failsWith(body, { ...SIGNED, decodedContentLength: 1000 }, 'InvalidRequest');
  await failsWith(Buffer.concat([body, Buffer.from('x')]), SIGNED, 'InvalidRequest');
  await failsWith(Buffer.from('zz;chunk-signature=00\r\n'), SIGNED, 'InvalidRequest');
  await failsWith(Buffer.alloc(10_000, '1'), SIGNED, 'InvalidRequest');
});

test('aws-chunked - decodes the AWS signed-trailer example and checks its CRC32C and trailer signature', async () => {
  for (const pieces of [[Infinity], [13]]) {
    assert.ok((await decode(signedTrailerBody(), SIGNED_TRAILER, pieces)).equals(DATA));
  }
  const text = signedTrailerBody().toString('latin1');
  // A checksum changed together with... nothing else: the trailer signature catches it.
  await failsWith(
    Buffer.from(text.replace('sOO8/Q==', 'AAAAAA=='), 'latin1'),
    SIGNED_TRAILER,
    'SignatureDoesNotMatch',
  );
  await failsWith(
    Buffer.from(text.replace(/x-amz-trailer-signature:.*\r\n/, ''), 'latin1'),
    SIGNED_TRAILER,
    'SignatureDoesNotMatch',
  );
  await failsWith(
    Buffer.from(text.replace(/x-amz-checksum-crc32c:.*\r\n/, ''), 'latin1'),
    SIGNED_TRAILER,
    'SignatureDoesNotMatch',
  );
});

test('aws-chunked - chains the trailer signature like the AWS CRT signer (its test vector)', async () => {
  // aws-crt-swift ChunkSignerTests: the plain chunked example plus trailers first/second/third.
  const body = Buffer.concat([
    signedBody().subarray(0, signedBody().length - 2),
    Buffer.from(
      'first:1st\r\nsecond:2nd\r\nthird:3rd\r\n' +
        'x-amz-trailer-signature:df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c\r\n\r\n',
    ),
  ]);
  const options: AwsChunkedOptions = {
    ...SIGNED,
    request: { ...SIGNED.request, payloadHash: PAYLOAD_HASH.streamingSignedTrailer },
    trailerNames: ['first', 'second', 'third'],
  };
  assert.ok((await decode(body, options)).equals(DATA));
  await failsWith(
    Buffer.from(body.toString('latin1').replace('2nd', '2nD'), 'latin1'),
    options,
    'SignatureDoesNotMatch',
  );
});

// Check values of the CRC catalogue for "123456789": CRC-32 cbf43926, CRC-32C e3069283.
const CHECK = Buffer.from('123456789');
const CHECK_SUMS = {
  'x-amz-checksum-crc32': Buffer.from('cbf43926', 'hex').toString('base64'),
  'x-amz-checksum-crc32c': Buffer.from('e3069283', 'hex').toString('base64'),
  'x-amz-checksum-sha1': createHash('sha1').update(CHECK).digest('base64'),
  'x-amz-checksum-sha256': createHash('sha256').update(CHECK).digest('base64'),
};

function unsignedTrailerBody(name: string, value: string): Buffer {
  // What the AWS SDKs send by default: STREAMING-UNSIGNED-PAYLOAD-TRAILER.
  return Buffer.concat([
    chunk(4, undefined, CHECK.subarray(0, 4)),
    chunk(5, undefined, CHECK.subarray(4)),
    Buffer.from(`0\r\n${name}:${value}\r\n\r\n`),
  ]);
}

test('aws-chunked - unsigned bodies with a trailing crc32, crc32c, sha1 or sha256 are checked', async () => {
  for (const [name, value] of Object.entries(CHECK_SUMS)) {
    const options: AwsChunkedOptions = {
      request: {
        ...EXAMPLE,
        payloadHash: PAYLOAD_HASH.streamingUnsignedTrailer,
        seedSignature: '',
      },
      decodedContentLength: 9,
      trailerNames: [name],
    };
    assert.equal(
      (await decode(unsignedTrailerBody(name, value), options, [3])).toString(),
      '123456789',
      name,
    );
    const wrong = Buffer.from(value, 'base64');
    wrong[0]! ^= 1;
    await failsWith(unsignedTrailerBody(name, wrong.toString('base64')), options, 'BadDigest');
    await failsWith(unsignedTrailerBody('x-amz-checksum-other', value), options, 'InvalidRequest');
    const noTrailer = Buffer.concat([chunk(9, undefined, CHECK), Buffer.from('0\r\n\r\n')]);
    await failsWith(noTrailer, options, 'IncompleteBody');
  }
});

test('aws-chunked - a checksum of an algorithm lanfs does not know is accepted unchecked', async () => {
  const options: AwsChunkedOptions = {
    request: { ...EXAMPLE, payloadHash: PAYLOAD_HASH.streamingUnsignedTrailer, seedSignature: '' },
    trailerNames: ['x-amz-checksum-crc64nvme'],
  };
  const data = await decode(
    unsignedTrailerBody('x-amz-checksum-crc64nvme', 'AAAAAAAAAAA='),
    options,
  );
  assert.equal(data.toString(), '123456789');
});

test('aws-chunked - refuses payload modes it cannot check', () => {
  assert.throws(
    () =>
      new AwsChunkedDecoder({ request: { ...SIGNED.request, payloadHash: 'UNSIGNED-PAYLOAD' } }),
    /aws-chunked needs/,
  );
  assert.throws(
    () =>
      new AwsChunkedDecoder({
        request: { ...SIGNED.request, payloadHash: 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' },
      }),
    (err: unknown) => err instanceof S3Error && err.code === 'NotImplemented',
  );
});
