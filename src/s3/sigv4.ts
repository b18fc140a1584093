/**
 * Checks AWS Signature Version 4 on an S3 request, in the Authorization header or
 * in a presigned URL's query (X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders, -Signature). Pure: the caller hands over the request line and
 * headers as received, and gets the verified facts back or an S3Error.
 *
 * Decisions (issue 12): the access key id is `lanfs` (any other id is
 * InvalidAccessKeyId) and the secret is the cluster key; any region is accepted
 * in the credential scope (clients default to us-east-1), the service must be
 * `s3`. Requests more than 15 minutes off our clock are RequestTimeTooSkewed;
 * presigned URLs are good until X-Amz-Date + X-Amz-Expires (at most 7 days).
 *
 * The body is not read here. The signature covers the payload hash the client
 * declared (x-amz-content-sha256, UNSIGNED-PAYLOAD for presigned URLs); when it
 * is a hex SHA-256 the caller must hash the body while streaming it and compare
 * with `payloadHash` before keeping anything (XAmzContentSHA256Mismatch); when it
 * is a STREAMING-* value the caller decodes the body with aws-chunked.ts, which
 * chains chunk signatures from `seedSignature` with `signingKey`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from './s3-error.ts';
import { awsUriEncode, parseQuery, uriDecode } from './uri-encoding.ts';

export const LANFS_ACCESS_KEY_ID = 'lanfs';
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS's limit: a request signed further than this from our clock is refused. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** AWS's limit for X-Amz-Expires: one week. */
export const MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600;
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The x-amz-content-sha256 values that are not a hash of the body. */
export const PAYLOAD_HASH = {
  unsigned: 'UNSIGNED-PAYLOAD',
  streamingSigned: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  streamingSignedTrailer: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  streamingUnsignedTrailer: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
} as const;

export interface SignedRequest {
  method: string;
  /** The path exactly as received, still percent-encoded, without the query. */
  rawPath: string;
  /** The raw query string, without the `?`. */
  query: string;
  headers: IncomingHttpHeaders;
}

export interface VerifyOptions {
  /** The cluster key: the secret access key of `lanfs`. */
  secretKey: string;
  /** Our clock, ms since the epoch; tests pass the date of a documented example. */
  now?: number;
  /** The one access key id accepted; `lanfs` unless a test checks a documented AWS example. */
  accessKeyId?: string;
}

export interface VerifiedRequest {
  accessKeyId: string;
  /**
   * What the body must be: a lower-case hex SHA-256 to compare after streaming it,
   * or one of PAYLOAD_HASH (UNSIGNED-PAYLOAD: nothing to check; STREAMING-*: decode
   * with aws-chunked.ts).
   */
  payloadHash: string;
  /** The request's signature; the first chunk of a signed aws-chunked body chains from it. */
  seedSignature: string;
  /** HMAC key for this date, region and service, for the chunk and trailer signatures. */
  signingKey: Buffer;
  /** `YYYYMMDD/region/s3/aws4_request` */
  scope: string;
  /** `YYYYMMDDTHHMMSSZ`, the time the client signed at. */
  amzDate: string;
  region: string;
  presigned: boolean;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacSha256(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`. */
export function deriveSigningKey(
  secretKey: string,
  date: string,
  region: string,
  service: string,
): Buffer {
  // Four HMACs that give the same key all day: most of a request's signature check.
  const cacheKey = `${date}\n${region}\n${service}\n${secretKey}`;
  const cached = signingKeys.get(cacheKey);
  if (cached) return cached;
  const dateKey = hmacSha256(`AWS4${secretKey}`, date);
  const key = hmacSha256(hmacSha256(hmacSha256(dateKey, region), service), 'aws4_request');
  if (signingKeys.size >= SIGNING_KEY_CACHE_ENTRIES) signingKeys.clear();
  signingKeys.set(cacheKey, key);
  return key;
}

/** Signing keys by date, region, service and secret (a handful in use at any time). */
const signingKeys = new Map<string, Buffer>();
const SIGNING_KEY_CACHE_ENTRIES = 64;

/** Constant-time comparison of two hex signatures; a malformed one never matches. */
export function signaturesEqual(expectedHex: string, givenHex: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(givenHex)) return false;
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(givenHex, 'hex'));
}

/** Verifies the request's SigV4 signature; throws an S3Error saying what is wrong. */
export function verifyRequestSignature(
  request: SignedRequest,
  options: VerifyOptions,
): VerifiedRequest {
  const now = options.now ?? Date.now();
  const params = parseQuery(request.query);
  const authorization = headerValue(request.headers, 'authorization');
  const presignedAlgorithm = params.find((p) => p.name === 'X-Amz-Algorithm');
  if (authorization !== undefined && presignedAlgorithm !== undefined) {
    throw new S3Error(
      'InvalidArgument',
      'Only one auth mechanism allowed; the request has both an Authorization header and X-Amz-Algorithm in its query.',
    );
  }
  const auth =
    authorization !== undefined
      ? parseAuthorizationHeader(authorization, request.headers, now)
      : presignedAlgorithm !== undefined
        ? parsePresignedQuery(params, now)
        : undefined;
  if (auth === undefined) {
    throw new S3Error(
      'AccessDenied',
      'Access Denied: the request is not signed; use access key id "lanfs" with the cluster key as the secret.',
    );
  }

  const [accessKeyId, date, region, service, terminator] = auth.credential;
  if (accessKeyId !== (options.accessKeyId ?? LANFS_ACCESS_KEY_ID)) {
    throw new S3Error(
      'InvalidAccessKeyId',
      `The access key id "${accessKeyId}" does not exist here; use "${LANFS_ACCESS_KEY_ID}" with the cluster key as the secret.`,
    );
  }
  if (service !== 's3' || terminator !== 'aws4_request') {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      `The credential scope must end in /s3/aws4_request, not /${service}/${terminator}.`,
    );
  }
  if (date !== auth.amzDate.slice(0, 8)) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      `The credential date ${date} is not the date of the request (${auth.amzDate}).`,
    );
  }
  checkUnsignedAmzHeaders(request.headers, auth.signedHeaders);

  const scope = `${date}/${region}/${service}/${terminator}`;
  const signingKey = deriveSigningKey(options.secretKey, date, region, service);
  const rest = [
    canonicalQuery(params, auth.presigned),
    canonicalHeaders(request.headers, auth.signedHeaders),
    auth.signedHeaders.join(';'),
    auth.payloadHash,
  ];
  // The path as AWS encodes it, and if that fails, as received: a client that escapes
  // fewer characters than AWS (a raw `!` or `(`) signed the path it sent.
  const paths = new Set([canonicalUri(request.rawPath), request.rawPath]);
  const matches = [...paths].some((path) => {
    const canonicalRequest = [request.method.toUpperCase(), path, ...rest].join('\n');
    const stringToSign = [SIGV4_ALGORITHM, auth.amzDate, scope, sha256Hex(canonicalRequest)];
    const expected = hmacSha256(signingKey, stringToSign.join('\n')).toString('hex');
    return signaturesEqual(expected, auth.signature);
  });
  if (!matches) {
    throw new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided; check that the secret is the cluster key and that nothing rewrote the request on the way.',
    );
  }
  return {
    accessKeyId,
    payloadHash: auth.payloadHash,
    seedSignature: auth.signature,
    signingKey,
    scope,
    amzDate: auth.amzDate,
    region,
    presigned: auth.presigned,
  };
}

interface ParsedAuth {
  credential: [string, string, string, string, string];
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  payloadHash: string;
  presigned: boolean;
}

function parseAuthorizationHeader(
  value: string,
  headers: IncomingHttpHeaders,
  now: number,
): ParsedAuth {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new S3Error(
      'InvalidRequest',
      `The authorization mechanism "${algorithm}" is not supported; use ${SIGV4_ALGORITHM} (Signature Version 4).`,
    );
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      'The Authorization header needs Credential, SignedHeaders and Signature.',
    );
  }
  const amzDate = requestDate(headers);
  const skew = Math.abs(parseAmzDate(amzDate) - now);
  if (skew > MAX_CLOCK_SKEW_MS) {
    throw new S3Error(
      'RequestTimeTooSkewed',
      `The difference between the request time (${amzDate}) and the server's time is more than 15 minutes; set the clock of the client or the server right.`,
    );
  }
  return {
    credential: parseCredential(credential),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signature,
    amzDate,
    // S3 requires the header; without it the body must be empty, which the caller's hash check enforces.
    payloadHash: checkPayloadHash(headerValue(headers, 'x-amz-content-sha256') ?? EMPTY_SHA256),
    presigned: false,
  };
}

function parsePresignedQuery(params: ReturnType<typeof parseQuery>, now: number): ParsedAuth {
  const get = (name: string): string => {
    const param = params.find((p) => p.name === name);
    if (param === undefined) {
      throw new S3Error(
        'AccessDenied',
        `The presigned URL has no ${name}; create it again with "aws s3 presign" or your SDK.`,
      );
    }
    return param.value;
  };
  if (get('X-Amz-Algorithm') !== SIGV4_ALGORITHM) {
    throw new S3Error(
      'InvalidRequest',
      `The X-Amz-Algorithm of a presigned URL must be ${SIGV4_ALGORITHM}.`,
    );
  }
  const credential = parseCredential(get('X-Amz-Credential'));
  const signedHeaders = parseSignedHeaders(get('X-Amz-SignedHeaders'));
  const signature = get('X-Amz-Signature');
  const amzDate = get('X-Amz-Date');
  const signedAt = parseAmzDate(amzDate);
  const expiresText = get('X-Amz-Expires');
  const expires = /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : NaN;
  if (!(expires >= 1 && expires <= MAX_PRESIGNED_EXPIRES_S)) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      `X-Amz-Expires must be a number of seconds from 1 to ${MAX_PRESIGNED_EXPIRES_S}.`,
    );
  }
  if (signedAt - now > MAX_CLOCK_SKEW_MS)
    throw new S3Error('AccessDenied', 'Request is not valid yet: X-Amz-Date is in the future.');
  if (now > signedAt + expires * 1000)
    throw new S3Error('AccessDenied', 'Request has expired; create a new presigned URL.');
  // The AWS SDK for JavaScript hoists its header as lower-case `x-amz-content-sha256`.
  const declared = params.find((p) => p.name.toLowerCase() === 'x-amz-content-sha256');
  return {
    credential,
    signedHeaders,
    signature,
    amzDate,
    payloadHash: checkPayloadHash(declared?.value ?? PAYLOAD_HASH.unsigned),
    presigned: true,
  };
}

function parseCredential(text: string): [string, string, string, string, string] {
  const parts = text.split('/');
  const [accessKeyId, date, region, service, terminator] = parts;
  if (
    parts.length !== 5 ||
    accessKeyId === undefined ||
    date === undefined ||
    !/^\d{8}$/.test(date) ||
    region === undefined ||
    region === '' ||
    service === undefined ||
    terminator === undefined
  ) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      `The credential "${text}" is not of the form ACCESS_KEY_ID/YYYYMMDD/REGION/s3/aws4_request.`,
    );
  }
  return [accessKeyId, date, region, service, terminator];
}

function parseSignedHeaders(text: string): string[] {
  const names = text.split(';');
  if (names.some((n) => n === '' || n !== n.toLowerCase().trim())) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      'SignedHeaders must be lower-case header names separated by ";".',
    );
  }
  if (!names.includes('host')) {
    throw new S3Error('AuthorizationHeaderMalformed', 'The Host header must be signed.');
  }
  return names;
}

function checkPayloadHash(value: string): string {
  const known: readonly string[] = Object.values(PAYLOAD_HASH);
  if (known.includes(value) || /^[0-9a-f]{64}$/.test(value)) return value;
  throw new S3Error(
    'InvalidArgument',
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER), STREAMING-UNSIGNED-PAYLOAD-TRAILER or a lower-case hex SHA-256 of the body.',
  );
}

/** The request time: x-amz-date, or the Date header (RFC 7231) turned into the same form. */
function requestDate(headers: IncomingHttpHeaders): string {
  const amzDate = headerValue(headers, 'x-amz-date');
  if (amzDate !== undefined) return amzDate;
  const date = headerValue(headers, 'date');
  const ms = date === undefined ? NaN : Date.parse(date);
  if (Number.isNaN(ms)) {
    throw new S3Error(
      'AccessDenied',
      'AWS authentication requires a valid Date or x-amz-date header.',
    );
  }
  return new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

function parseAmzDate(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  const ms = m === null ? NaN : Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  if (Number.isNaN(ms)) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      `The request date "${text}" is not of the form YYYYMMDDTHHMMSSZ.`,
    );
  }
  return ms;
}

/**
 * S3 does not double-encode: the canonical URI is the path with each segment
 * URI-encoded once. Clients differ in which characters they escape on the wire,
 * so the received path is decoded and encoded again the AWS way.
 */
export function canonicalUri(rawPath: string): string {
  return rawPath
    .split('/')
    .map((segment) => awsUriEncode(uriDecode(segment)))
    .join('/');
}

function canonicalQuery(params: ReturnType<typeof parseQuery>, presigned: boolean): string {
  return params
    .filter((p) => !(presigned && p.name === 'X-Amz-Signature'))
    .map((p) => [awsUriEncode(p.name), awsUriEncode(p.value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function canonicalHeaders(headers: IncomingHttpHeaders, signed: string[]): string {
  return signed
    .map((name) => {
      const value = headerValue(headers, name);
      if (value === undefined) {
        throw new S3Error(
          'SignatureDoesNotMatch',
          `The signed header "${name}" is missing from the request; something on the way removed it.`,
        );
      }
      return `${name}:${value.replace(/[ \t]+/g, ' ').trim()}\n`;
    })
    .join('');
}

/**
 * AWS refuses x-amz-* headers that are not signed: otherwise anyone holding a
 * presigned PUT could add x-amz-copy-source and turn it into a copy of a file
 * they may not read, or change the metadata of a signed upload.
 */
function checkUnsignedAmzHeaders(headers: IncomingHttpHeaders, signed: string[]): void {
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-amz-') && !signed.includes(lower)) {
      throw new S3Error(
        'AccessDenied',
        `There were headers present in the request which were not signed: ${lower}.`,
      );
    }
  }
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}
