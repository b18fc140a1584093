/**
 * The body of an S3 upload (PutObject, UploadPart) as it streams in: decoded
 * from aws-chunked when the client sent it that way, and hashed on the way so
 * that, before anything is kept, the caller can check what the client vouched
 * for: Content-MD5 (BadDigest), a hex x-amz-content-sha256
 * (XAmzContentSHA256Mismatch) and x-amz-checksum-* headers (BadDigest); the
 * aws-chunked decoder checks chunk signatures and trailing checksums itself.
 * The MD5 it computes is the object's (or part's) S3 ETag.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { AwsChunkedDecoder } from './aws-chunked.ts';
import { checksumAlgorithmOf, createChecksum, type Checksum } from './checksums.ts';
import { S3Error } from './s3-error.ts';
import { PAYLOAD_HASH, type VerifiedRequest } from './sigv4.ts';
import { streamHash, type StreamHash } from '../shared/stream-hash.ts';

/** What the signature check says of the body (from sigv4.ts, or made up under --insecure). */
export type PayloadFacts = Pick<
  VerifiedRequest,
  'payloadHash' | 'seedSignature' | 'signingKey' | 'amzDate' | 'scope'
>;

export interface UploadBody {
  /** The object's bytes, decoded. */
  chunks: AsyncIterable<Buffer>;
  /** Their size if the client said it (Content-Length or x-amz-decoded-content-length). */
  size: number | null;
  /** The hex sha256 the client signed, to pass on to the file service; undefined if none. */
  sha256: string | undefined;
  /**
   * After every chunk was read: checks the digests the client sent and returns the
   * MD5 (hex) of the bytes; throws the S3Error that says which one did not match.
   */
  check(): Promise<string>;
}

/**
 * The payload facts of a request whose signature is not checked (--insecure):
 * a hex hash is still checked; streamed bodies are decoded without checking
 * their chunk signatures, which need the secret.
 */
export function unverifiedPayload(req: IncomingMessage, presigned: boolean): PayloadFacts {
  const declared = header(req, 'x-amz-content-sha256');
  const payloadHash =
    declared !== undefined && /^[0-9a-f]{64}$/.test(declared)
      ? declared
      : declared?.startsWith('STREAMING-') === true && !presigned
        ? PAYLOAD_HASH.streamingUnsignedTrailer
        : PAYLOAD_HASH.unsigned;
  return { payloadHash, seedSignature: '', signingKey: Buffer.alloc(0), amzDate: '', scope: '' };
}

export function uploadBody(
  req: IncomingMessage,
  payload: PayloadFacts,
  contentMd5: string | undefined,
): UploadBody {
  const encoding = (header(req, 'content-encoding') ?? '').toLowerCase();
  const chunked =
    payload.payloadHash.startsWith('STREAMING-') ||
    encoding.split(',').some((e) => e.trim() === 'aws-chunked');
  let source: Readable = req;
  let size = lengthOf(header(req, 'content-length'));
  if (chunked) {
    size = lengthOf(header(req, 'x-amz-decoded-content-length'));
    const decoder = new AwsChunkedDecoder({
      request: payload,
      decodedContentLength: size ?? undefined,
      trailerNames: (header(req, 'x-amz-trailer') ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== ''),
    });
    source = pipeline(req, decoder, () => undefined);
  }
  const sha256Hex = /^[0-9a-f]{64}$/.test(payload.payloadHash) ? payload.payloadHash : undefined;
  // A large body's MD5 and sha256 are taken on the hash thread (shared/stream-hash.ts),
  // not on the event loop every other request waits for. Opened with the first byte
  // read: a request refused before its body is read leaves nothing open on the thread.
  let md5: StreamHash | undefined;
  let sha256: StreamHash | undefined;
  const hashes = (): { md5: StreamHash; sha256: StreamHash | undefined } => {
    md5 ??= streamHash('md5', size ?? 0);
    if (sha256Hex !== undefined) sha256 ??= streamHash('sha256', size ?? 0);
    return { md5, sha256 };
  };
  // Checksums sent as headers; those sent as trailers the decoder checks.
  const checksums: { value: string; checksum: Checksum }[] = [];
  for (const [name, value] of Object.entries(req.headers)) {
    const algorithm = checksumAlgorithmOf(name);
    if (algorithm === undefined || typeof value !== 'string') continue;
    checksums.push({ value: value.trim(), checksum: createChecksum(algorithm) });
  }
  let received = 0;
  let whole = false;
  const chunks = (async function* () {
    const { md5, sha256 } = hashes();
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        received += chunk.length;
        md5.update(chunk);
        sha256?.update(chunk);
        for (const { checksum } of checksums) checksum.update(chunk);
        yield chunk;
        if (md5.behind || sha256?.behind === true)
          await Promise.all([md5.caughtUp(), sha256?.caughtUp()]);
      }
      whole = true;
    } finally {
      // A body cut short (the client left, the disk failed): its hashes are dropped.
      if (!whole) {
        md5.close();
        sha256?.close();
      }
    }
  })();
  return {
    chunks,
    size,
    sha256: sha256Hex,
    check: async () => {
      const { md5, sha256 } = hashes();
      if (size !== null && received !== size) {
        md5.close();
        sha256?.close();
        throw new S3Error(
          'IncompleteBody',
          `The body held ${received} bytes, not the ${size} the request said; send it again.`,
        );
      }
      const [digest, sha256Digest] = await Promise.all([md5.digest(), sha256?.digest()]);
      if (contentMd5 !== undefined && contentMd5 !== digest) {
        throw new S3Error(
          'BadDigest',
          'The Content-MD5 you specified did not match what we received; nothing was stored.',
        );
      }
      if (sha256Digest !== undefined && sha256Digest !== sha256Hex) {
        throw new S3Error(
          'XAmzContentSHA256Mismatch',
          "The provided 'x-amz-content-sha256' header does not match what was computed; nothing was stored.",
        );
      }
      for (const { value, checksum } of checksums) {
        if (checksum.digestBase64() !== value) {
          throw new S3Error(
            'BadDigest',
            `The ${checksum.algorithm.toUpperCase()} checksum you specified did not match what we received; nothing was stored.`,
          );
        }
      }
      return digest;
    },
  };
}

function lengthOf(text: string | undefined): number | null {
  return text !== undefined && /^\d{1,15}$/.test(text.trim()) ? Number(text) : null;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}
