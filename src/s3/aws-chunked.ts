/**
 * Decodes an `aws-chunked` request body (Content-Encoding: aws-chunked) as it
 * streams: chunk headers `HEX-SIZE[;chunk-signature=SIG]\r\n`, the data, `\r\n`,
 * a final 0-size chunk, then optional trailers (`x-amz-checksum-crc32:BASE64\r\n`,
 * `x-amz-trailer-signature:SIG\r\n`) and an empty line. Only the data comes out.
 *
 * With STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) every chunk signature is
 * checked (string to sign: AWS4-HMAC-SHA256-PAYLOAD, date, scope, previous
 * signature, sha256(""), sha256(chunk data); the first chunk chains from the
 * request's seed signature) and so is the trailer signature (AWS4-HMAC-SHA256-
 * TRAILER, ..., sha256 of the trailers as `name:value\n`). With
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER there are no signatures to check. Trailing
 * checksums of known algorithms are checked against the decoded bytes (see
 * checksums.ts for the unknown ones).
 *
 * Nothing is buffered beyond one header line: data is passed on before its
 * chunk's signature can be checked (that needs the whole chunk), so the caller
 * must keep nothing of an upload unless this stream ends without an error; on a
 * bad body the stream errors with an S3Error (IncompleteBody, SignatureDoesNotMatch,
 * BadDigest, InvalidRequest).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { checksumAlgorithmOf, createChecksum, type Checksum } from './checksums.ts';
import { S3Error } from './s3-error.ts';
import {
  EMPTY_SHA256,
  PAYLOAD_HASH,
  hmacSha256,
  sha256Hex,
  signaturesEqual,
  type VerifiedRequest,
} from './sigv4.ts';

/** A chunk header is about 90 bytes; anything this long is not one. */
export const MAX_CHUNK_LINE_BYTES = 4096;
/** More trailers than any client sends (one checksum and one signature). */
export const MAX_TRAILERS = 16;
const TRAILER_SIGNATURE = 'x-amz-trailer-signature';

export interface AwsChunkedOptions {
  /** What sigv4.ts verified; `payloadHash` must be one of the STREAMING-* values. */
  request: Pick<
    VerifiedRequest,
    'payloadHash' | 'seedSignature' | 'signingKey' | 'amzDate' | 'scope'
  >;
  /** x-amz-decoded-content-length: the size of the data; checked at the end. */
  decodedContentLength?: number;
  /** The names in x-amz-trailer (lower case): trailers the client promised to send. */
  trailerNames?: string[];
}

type State = 'size' | 'data' | 'data-end' | 'trailers' | 'done';

export class AwsChunkedDecoder extends Transform {
  readonly #signed: boolean;
  readonly #withTrailer: boolean;
  readonly #request: AwsChunkedOptions['request'];
  readonly #declaredLength: number | undefined;
  readonly #trailerNames: string[];
  readonly #checksums = new Map<string, Checksum>();
  /** Trailers received, in order, signature excluded. */
  readonly trailers = new Map<string, string>();

  #state: State = 'size';
  #line: Buffer[] = [];
  #lineBytes = 0;
  #remaining = 0;
  #chunkSignature = '';
  #chunkHash: Hash | undefined;
  #previousSignature: string;
  #decodedBytes = 0;
  #trailerLines = 0;

  constructor(options: AwsChunkedOptions) {
    super();
    const { payloadHash } = options.request;
    if (!payloadHash.startsWith('STREAMING-')) {
      throw new S3Error(
        'InvalidRequest',
        'Content-Encoding aws-chunked needs x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or STREAMING-UNSIGNED-PAYLOAD-TRAILER.',
      );
    }
    if (
      payloadHash !== PAYLOAD_HASH.streamingSigned &&
      payloadHash !== PAYLOAD_HASH.streamingSignedTrailer &&
      payloadHash !== PAYLOAD_HASH.streamingUnsignedTrailer
    ) {
      // e.g. STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD (SigV4a), which lanfs does not verify.
      throw new S3Error('NotImplemented', `The payload signing ${payloadHash} is not supported.`);
    }
    this.#signed = payloadHash !== PAYLOAD_HASH.streamingUnsignedTrailer;
    this.#withTrailer = payloadHash.endsWith('-TRAILER');
    this.#request = options.request;
    this.#previousSignature = options.request.seedSignature;
    this.#declaredLength = options.decodedContentLength;
    this.#trailerNames = (options.trailerNames ?? []).map((n) => n.trim().toLowerCase());
    for (const name of this.#trailerNames) {
      const algorithm = checksumAlgorithmOf(name);
      if (algorithm !== undefined) this.#checksums.set(name, createChecksum(algorithm));
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#consume(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.#state === 'trailers' && this.#lineBytes === 0) {
        // Some clients end the body right after the last trailer, without the empty line.
        this.#finish();
      }
      if (this.#state !== 'done') {
        throw new S3Error(
          'IncompleteBody',
          'The aws-chunked body ended before its final chunk; the upload was cut off, send it again.',
        );
      }
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  #consume(input: Buffer): void {
    let at = 0;
    while (at < input.length) {
      if (this.#state === 'data') {
        const take = Math.min(this.#remaining, input.length - at);
        const data = input.subarray(at, at + take);
        at += take;
        this.#remaining -= take;
        this.#chunkHash?.update(data);
        for (const checksum of this.#checksums.values()) checksum.update(data);
        this.push(data);
        if (this.#remaining === 0) this.#state = 'data-end';
        continue;
      }
      if (this.#state === 'done') {
        throw new S3Error('InvalidRequest', 'The aws-chunked body has bytes after its end.');
      }
      const newline = input.indexOf(0x0a, at);
      const end = newline < 0 ? input.length : newline + 1;
      this.#lineBytes += end - at;
      if (this.#lineBytes > MAX_CHUNK_LINE_BYTES) {
        throw new S3Error('InvalidRequest', 'An aws-chunked header line is too long.');
      }
      this.#line.push(input.subarray(at, end));
      at = end;
      if (newline < 0) break;
      const line = Buffer.concat(this.#line).toString('latin1');
      this.#line = [];
      this.#lineBytes = 0;
      if (!line.endsWith('\r\n')) {
        throw new S3Error('InvalidRequest', 'An aws-chunked line does not end in CRLF.');
      }
      this.#onLine(line.slice(0, -2));
    }
  }

  #onLine(line: string): void {
    switch (this.#state) {
      case 'size':
        return this.#onChunkHeader(line);
      case 'data-end':
        if (line !== '') {
          throw new S3Error('InvalidRequest', 'An aws-chunked chunk is longer than its size.');
        }
        this.#endChunk();
        this.#state = 'size';
        return;
      case 'trailers':
        if (line === '') return this.#finish();
        return this.#onTrailer(line);
      default:
        throw new S3Error('InvalidRequest', 'The aws-chunked body is malformed.');
    }
  }

  #onChunkHeader(line: string): void {
    const [sizeText = '', ...extensions] = line.split(';');
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) {
      throw new S3Error(
        'InvalidRequest',
        `"${line.slice(0, 40)}" is not an aws-chunked chunk header.`,
      );
    }
    const size = parseInt(sizeText, 16);
    const signature = extensions
      .find((e) => e.startsWith('chunk-signature='))
      ?.slice('chunk-signature='.length);
    if (this.#signed && signature === undefined) {
      throw new S3Error(
        'SignatureDoesNotMatch',
        'A chunk of a signed aws-chunked body has no signature.',
      );
    }
    this.#chunkSignature = signature ?? '';
    this.#decodedBytes += size;
    if (this.#declaredLength !== undefined && this.#decodedBytes > this.#declaredLength) {
      throw new S3Error(
        'InvalidRequest',
        'The aws-chunked body holds more data than x-amz-decoded-content-length says.',
      );
    }
    this.#chunkHash = this.#signed ? createHash('sha256') : undefined;
    if (size > 0) {
      this.#remaining = size;
      this.#state = 'data';
      return;
    }
    // The final chunk: its signature covers no data, and then come the trailers.
    this.#endChunk();
    this.#state = 'trailers';
  }

  #endChunk(): void {
    if (!this.#signed) return;
    const stringToSign = [
      'AWS4-HMAC-SHA256-PAYLOAD',
      this.#request.amzDate,
      this.#request.scope,
      this.#previousSignature,
      EMPTY_SHA256,
      this.#chunkHash?.digest('hex') ?? EMPTY_SHA256,
    ].join('\n');
    this.#checkSignature(stringToSign, this.#chunkSignature, 'chunk');
  }

  #onTrailer(line: string): void {
    if (++this.#trailerLines > MAX_TRAILERS) {
      throw new S3Error('InvalidRequest', 'The aws-chunked body has too many trailers.');
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new S3Error('InvalidRequest', `"${line.slice(0, 40)}" is not a trailer.`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === TRAILER_SIGNATURE) {
      if (!this.#signed) return;
      const canonical = [...this.trailers].map(([n, v]) => `${n}:${v}\n`).join('');
      const rest = [
        this.#request.amzDate,
        this.#request.scope,
        this.#previousSignature,
        sha256Hex(canonical),
      ];
      // AWS's signers (CRT, SDKs) use AWS4-HMAC-SHA256-TRAILER; the worked example of
      // the S3 API reference was computed with AWS4-HMAC-SHA256-PAYLOAD. Both are
      // HMACs with the same key over the same chain, so both are accepted.
      this.#checkSignature(
        ['AWS4-HMAC-SHA256-TRAILER', ...rest].join('\n'),
        value,
        'trailer',
        ['AWS4-HMAC-SHA256-PAYLOAD', ...rest].join('\n'),
      );
      this.trailers.set(TRAILER_SIGNATURE, value);
      return;
    }
    if (!this.#withTrailer || !this.#trailerNames.includes(name)) {
      throw new S3Error(
        'InvalidRequest',
        `The trailer "${name}" was not announced in the x-amz-trailer header.`,
      );
    }
    this.trailers.set(name, value);
  }

  #finish(): void {
    for (const name of this.#trailerNames) {
      if (!this.trailers.has(name)) {
        throw new S3Error(
          'IncompleteBody',
          `The trailer "${name}" announced in x-amz-trailer is missing.`,
        );
      }
    }
    if (this.#signed && this.#withTrailer && !this.trailers.has(TRAILER_SIGNATURE)) {
      throw new S3Error(
        'SignatureDoesNotMatch',
        'The signed trailers have no x-amz-trailer-signature.',
      );
    }
    this.trailers.delete(TRAILER_SIGNATURE);
    for (const [name, checksum] of this.#checksums) {
      if (checksum.digestBase64() !== this.trailers.get(name)) {
        throw new S3Error(
          'BadDigest',
          `The ${checksum.algorithm.toUpperCase()} checksum you sent does not match the data we received; send the upload again.`,
        );
      }
    }
    if (this.#declaredLength !== undefined && this.#decodedBytes !== this.#declaredLength) {
      throw new S3Error(
        'IncompleteBody',
        `The body holds ${this.#decodedBytes} bytes of data, not the ${this.#declaredLength} of x-amz-decoded-content-length.`,
      );
    }
    this.#state = 'done';
  }

  #checkSignature(stringToSign: string, given: string, what: string, alternative?: string): void {
    const matches = (text: string): boolean =>
      signaturesEqual(hmacSha256(this.#request.signingKey, text).toString('hex'), given);
    if (!matches(stringToSign) && (alternative === undefined || !matches(alternative))) {
      throw new S3Error(
        'SignatureDoesNotMatch',
        `The ${what} signature of the aws-chunked body does not match; the body was changed on the way or signed with another key.`,
      );
    }
    this.#previousSignature = given;
  }
}
