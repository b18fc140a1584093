/**
 * Turns an incoming S3 request (method, path, query, headers) into the operation
 * it asks for, with its parameters parsed and checked, before any file is
 * touched. Path-style only: `PREFIX/` is the service, `PREFIX/BUCKET` a bucket,
 * `PREFIX/BUCKET/KEY` an object. lanfs serves S3 at the root of its HTTP port
 * (prefix ''), because s3cmd cannot put a path in its endpoint; a front end that
 * serves it under a path passes that prefix (SigV4 signs the whole path).
 *
 * Anything lanfs does not do (bucket ACLs, tagging, versioning settings,
 * UploadPartCopy, GetObject by partNumber, other methods) is 501 NotImplemented,
 * so a client sees a clear S3 error instead of an answer to another operation.
 * Bucket names must be valid S3 names and keys valid lanfs names (see
 * object-names.ts for the mapping).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseRangeHeader, type ByteRange } from './byte-range.ts';
import { MAX_KEYS } from './listing.ts';
import { checkBucketName, objectName } from './object-names.ts';
import { S3Error } from './s3-error.ts';
import { parseQuery, uriDecode } from './uri-encoding.ts';
import { MAX_PARTS } from './xml.ts';

/** lanfs serves S3 at the root of the HTTP port (requests are told apart by their signature). */
export const DEFAULT_S3_PREFIX = '';
/** S3's limit on the x-amz-meta-* headers of one object, names and values together. */
export const MAX_METADATA_BYTES = 2048;

export interface S3RequestInput {
  method: string;
  /** The path as received, percent-encoded, without the query. */
  rawPath: string;
  /** The raw query string, without `?`. */
  query: string;
  headers: IncomingHttpHeaders;
}

export interface ObjectTarget {
  bucket: string;
  key: string;
  /** The lanfs name `bucket/key`, in NFC. */
  name: string;
}

export interface ObjectWriteHeaders {
  /** x-amz-meta-* with the prefix removed, names in lower case. */
  metadata: Record<string, string>;
  contentType?: string;
  /** Content-MD5 as hex; the caller compares it with the MD5 of the body (BadDigest). */
  contentMd5?: string;
}

export interface ListCommon {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  maxKeys: number;
  encodingType?: 'url';
}

export type S3Operation =
  | { kind: 'ListBuckets' }
  | { kind: 'CreateBucket'; bucket: string }
  | { kind: 'HeadBucket'; bucket: string }
  | { kind: 'DeleteBucket'; bucket: string }
  | { kind: 'GetBucketLocation'; bucket: string }
  | { kind: 'GetBucketVersioning'; bucket: string }
  | ({ kind: 'ListObjectsV1'; marker?: string } & ListCommon)
  | ({
      kind: 'ListObjectsV2';
      continuationToken?: string;
      startAfter?: string;
      fetchOwner: boolean;
    } & ListCommon)
  | ({ kind: 'ListObjectVersions'; keyMarker?: string; versionIdMarker?: string } & ListCommon)
  | {
      kind: 'ListMultipartUploads';
      bucket: string;
      prefix?: string;
      delimiter?: string;
      keyMarker?: string;
      uploadIdMarker?: string;
      maxUploads: number;
    }
  | { kind: 'DeleteObjects'; bucket: string }
  | ({ kind: 'GetObject' | 'HeadObject'; versionId?: string; range?: ByteRange } & ObjectTarget)
  | ({ kind: 'PutObject' } & ObjectTarget & ObjectWriteHeaders)
  | ({
      kind: 'CopyObject';
      source: ObjectTarget & { versionId?: string };
      /** REPLACE: take metadata and content type from this request, not from the source. */
      metadataDirective: 'COPY' | 'REPLACE';
    } & ObjectTarget &
      ObjectWriteHeaders)
  | ({ kind: 'DeleteObject'; versionId?: string } & ObjectTarget)
  | ({ kind: 'CreateMultipartUpload' } & ObjectTarget & ObjectWriteHeaders)
  | ({
      kind: 'UploadPart';
      uploadId: string;
      partNumber: number;
      contentMd5?: string;
    } & ObjectTarget)
  | ({ kind: 'CompleteMultipartUpload'; uploadId: string } & ObjectTarget)
  | ({ kind: 'AbortMultipartUpload'; uploadId: string } & ObjectTarget)
  | ({
      kind: 'ListParts';
      uploadId: string;
      maxParts: number;
      partNumberMarker: number;
    } & ObjectTarget);

export type S3OperationKind = S3Operation['kind'];

/**
 * Subresources of S3 that lanfs does not serve. Without this list `GET ?acl`
 * would be answered with the object itself; valueless parameters not known to
 * lanfs are refused the same way.
 */
const UNSUPPORTED_SUBRESOURCES = new Set([
  'accelerate',
  'acl',
  'analytics',
  'attributes',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'logging',
  'metadataTable',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'renameObject',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'session',
  'tagging',
  'torrent',
  'website',
]);

/** Parameters that may come with any request and select nothing. */
function isNeutralParameter(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === 'x-id' || lower.startsWith('x-amz-') || lower.startsWith('response-');
}

export function isS3Path(rawPath: string, prefix = DEFAULT_S3_PREFIX): boolean {
  return rawPath === prefix || rawPath.startsWith(`${prefix}/`);
}

/** The operation of an S3 request; throws an S3Error for requests lanfs cannot serve. */
export function parseS3Request(input: S3RequestInput, prefix = DEFAULT_S3_PREFIX): S3Operation {
  if (!isS3Path(input.rawPath, prefix)) {
    throw new S3Error('InvalidURI', `S3 requests are served under ${prefix}/.`);
  }
  const rest = input.rawPath.slice(prefix.length).replace(/^\//, '');
  const slash = rest.indexOf('/');
  const bucket = uriDecode(slash < 0 ? rest : rest.slice(0, slash));
  const key = slash < 0 ? '' : uriDecode(rest.slice(slash + 1));
  const query = new Query(input.query);
  const method = input.method.toUpperCase();
  const resource = bucket === '' ? '/' : key === '' ? `/${bucket}` : `/${bucket}/${key}`;
  const notImplemented = (what: string): S3Error =>
    new S3Error('NotImplemented', `lanfs does not implement ${what}.`, { resource });

  const subresource = query.unsupportedSubresource();
  if (subresource !== undefined) throw notImplemented(`the ?${subresource} subresource`);

  if (bucket === '') {
    if (method === 'GET') return { kind: 'ListBuckets' };
    throw notImplemented(`${method} on the service`);
  }
  checkBucketName(bucket);
  if (key === '') return bucketOperation(method, bucket, query, notImplemented);
  const target: ObjectTarget = { bucket, key, name: objectName(bucket, key) };
  return objectOperation(method, target, query, input.headers, notImplemented);
}

function bucketOperation(
  method: string,
  bucket: string,
  query: Query,
  notImplemented: (what: string) => S3Error,
): S3Operation {
  switch (method) {
    case 'GET': {
      if (query.has('location')) return { kind: 'GetBucketLocation', bucket };
      // Clients ask before they delete (rclone purge); lanfs buckets are never versioned.
      if (query.has('versioning')) return { kind: 'GetBucketVersioning', bucket };
      if (query.has('uploads')) {
        return {
          kind: 'ListMultipartUploads',
          bucket,
          prefix: query.get('prefix'),
          delimiter: query.nonEmpty('delimiter'),
          keyMarker: query.nonEmpty('key-marker'),
          uploadIdMarker: query.nonEmpty('upload-id-marker'),
          maxUploads: query.count('max-uploads', MAX_KEYS),
        };
      }
      const common: ListCommon = {
        bucket,
        prefix: query.get('prefix'),
        delimiter: query.nonEmpty('delimiter'),
        maxKeys: query.count('max-keys', MAX_KEYS),
        encodingType: query.encodingType(),
      };
      if (query.has('versions')) {
        return {
          kind: 'ListObjectVersions',
          ...common,
          keyMarker: query.nonEmpty('key-marker'),
          versionIdMarker: query.nonEmpty('version-id-marker'),
        };
      }
      const listType = query.get('list-type');
      if (listType === '2') {
        return {
          kind: 'ListObjectsV2',
          ...common,
          continuationToken: query.get('continuation-token'),
          startAfter: query.nonEmpty('start-after'),
          fetchOwner: query.get('fetch-owner') === 'true',
        };
      }
      if (listType !== undefined && listType !== '1') throw notImplemented(`list-type=${listType}`);
      return { kind: 'ListObjectsV1', ...common, marker: query.nonEmpty('marker') };
    }
    case 'PUT':
      if (query.has('versioning')) throw notImplemented('PutBucketVersioning');
      return { kind: 'CreateBucket', bucket };
    case 'HEAD':
      return { kind: 'HeadBucket', bucket };
    case 'DELETE':
      return { kind: 'DeleteBucket', bucket };
    case 'POST':
      if (query.has('delete')) return { kind: 'DeleteObjects', bucket };
      throw notImplemented('POST on a bucket without ?delete (browser form uploads)');
    default:
      throw notImplemented(`${method} on a bucket`);
  }
}

function objectOperation(
  method: string,
  target: ObjectTarget,
  query: Query,
  headers: IncomingHttpHeaders,
  notImplemented: (what: string) => S3Error,
): S3Operation {
  const uploadId = query.nonEmpty('uploadId');
  if (query.has('versioning')) throw notImplemented('the ?versioning subresource of an object');
  switch (method) {
    case 'GET':
    case 'HEAD': {
      if (uploadId !== undefined && method === 'GET') {
        return {
          kind: 'ListParts',
          ...target,
          uploadId,
          maxParts: query.count('max-parts', MAX_KEYS),
          partNumberMarker: query.count('part-number-marker', 0, MAX_PARTS),
        };
      }
      if (query.has('partNumber')) throw notImplemented('GetObject of one part (partNumber)');
      return {
        kind: method === 'GET' ? 'GetObject' : 'HeadObject',
        ...target,
        versionId: versionIdOf(query),
        range: parseRangeHeader(header(headers, 'range')),
      };
    }
    case 'PUT': {
      const copySource = header(headers, 'x-amz-copy-source');
      if (query.has('partNumber') || uploadId !== undefined) {
        if (uploadId === undefined || !query.has('partNumber')) {
          throw new S3Error('InvalidRequest', 'UploadPart needs both partNumber and uploadId.');
        }
        if (copySource !== undefined) throw notImplemented('UploadPartCopy');
        return {
          kind: 'UploadPart',
          ...target,
          uploadId,
          partNumber: partNumberOf(query.get('partNumber') ?? ''),
          contentMd5: contentMd5Of(headers),
        };
      }
      const write = writeHeaders(headers);
      if (copySource === undefined) return { kind: 'PutObject', ...target, ...write };
      const directive = (header(headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
      if (directive !== 'COPY' && directive !== 'REPLACE') {
        throw new S3Error('InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE.');
      }
      return {
        kind: 'CopyObject',
        ...target,
        ...write,
        source: parseCopySource(copySource),
        metadataDirective: directive,
      };
    }
    case 'POST':
      if (query.has('uploads')) {
        return { kind: 'CreateMultipartUpload', ...target, ...writeHeaders(headers) };
      }
      if (uploadId !== undefined) return { kind: 'CompleteMultipartUpload', ...target, uploadId };
      throw notImplemented('this POST on an object');
    case 'DELETE':
      if (uploadId !== undefined) return { kind: 'AbortMultipartUpload', ...target, uploadId };
      return { kind: 'DeleteObject', ...target, versionId: versionIdOf(query) };
    default:
      throw notImplemented(`${method} on an object`);
  }
}

/** `x-amz-copy-source: /bucket/key?versionId=V`, the bucket and key URL-encoded. */
export function parseCopySource(value: string): ObjectTarget & { versionId?: string } {
  const question = value.indexOf('?');
  const path = question < 0 ? value : value.slice(0, question);
  const versionParam = new Query(question < 0 ? '' : value.slice(question + 1)).nonEmpty(
    'versionId',
  );
  const decoded = uriDecode(path).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error(
      'InvalidArgument',
      'x-amz-copy-source must be /BUCKET/KEY, URL-encoded, optionally with ?versionId=.',
    );
  }
  const bucket = decoded.slice(0, slash);
  const key = decoded.slice(slash + 1);
  const source = { bucket, key, name: objectName(bucket, key) };
  return versionParam === undefined ? source : { ...source, versionId: versionParam };
}

function writeHeaders(headers: IncomingHttpHeaders): ObjectWriteHeaders {
  const metadata: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('x-amz-meta-') || value === undefined) continue;
    const metaName = lower.slice('x-amz-meta-'.length);
    const text = Array.isArray(value) ? value.join(',') : value;
    metadata[metaName] = text;
    bytes += Buffer.byteLength(metaName) + Buffer.byteLength(text);
  }
  if (bytes > MAX_METADATA_BYTES) {
    throw new S3Error(
      'MetadataTooLarge',
      `The x-amz-meta-* headers hold ${bytes} bytes; at most ${MAX_METADATA_BYTES} are kept with a file.`,
    );
  }
  const write: ObjectWriteHeaders = { metadata };
  const contentType = header(headers, 'content-type');
  if (contentType !== undefined) write.contentType = contentType;
  const contentMd5 = contentMd5Of(headers);
  if (contentMd5 !== undefined) write.contentMd5 = contentMd5;
  return write;
}

function contentMd5Of(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'content-md5');
  if (value === undefined) return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== 16 || bytes.toString('base64') !== value.trim()) {
    throw new S3Error(
      'InvalidDigest',
      'The Content-MD5 you specified is not the base64 of an MD5.',
    );
  }
  return bytes.toString('hex');
}

function partNumberOf(text: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_PARTS)) {
    throw new S3Error(
      'InvalidArgument',
      `Part number must be an integer between 1 and ${MAX_PARTS}.`,
    );
  }
  return n;
}

function versionIdOf(query: Query): string | undefined {
  const versionId = query.nonEmpty('versionId');
  // S3 lists unversioned objects with version id "null"; it names the current version.
  return versionId === 'null' ? undefined : versionId;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The decoded query of one request. */
class Query {
  readonly #params: ReturnType<typeof parseQuery>;
  constructor(raw: string) {
    this.#params = parseQuery(raw);
  }
  has(name: string): boolean {
    return this.#params.some((p) => p.name === name);
  }
  get(name: string): string | undefined {
    return this.#params.find((p) => p.name === name)?.value;
  }
  /** The value, with '' treated as absent (clients send `marker=` for none). */
  nonEmpty(name: string): string | undefined {
    const value = this.get(name);
    return value === '' ? undefined : value;
  }
  /** A count parameter like max-keys: a non-negative integer, capped at `max`. */
  count(name: string, fallback: number, max = MAX_KEYS): number {
    const value = this.nonEmpty(name);
    if (value === undefined) return fallback;
    if (!/^\d{1,10}$/.test(value)) {
      throw new S3Error('InvalidArgument', `${name} must be a non-negative integer.`);
    }
    return Math.min(Number(value), max);
  }
  encodingType(): 'url' | undefined {
    const value = this.nonEmpty('encoding-type');
    if (value === undefined) return undefined;
    if (value.toLowerCase() !== 'url') {
      throw new S3Error(
        'InvalidArgument',
        'Invalid Encoding Method specified in Request; use url.',
      );
    }
    return 'url';
  }
  /** A subresource lanfs does not serve: a known one, or any valueless unknown parameter. */
  unsupportedSubresource(): string | undefined {
    return this.#params.find(
      (p) =>
        UNSUPPORTED_SUBRESOURCES.has(p.name) ||
        (p.value === '' && !KNOWN_PARAMETERS.has(p.name) && !isNeutralParameter(p.name)),
    )?.name;
  }
}

/** Every parameter some operation above reads; they may be empty. */
const KNOWN_PARAMETERS = new Set([
  'location',
  'versioning',
  'uploads',
  'versions',
  'delete',
  'prefix',
  'delimiter',
  'marker',
  'max-keys',
  'list-type',
  'continuation-token',
  'start-after',
  'fetch-owner',
  'encoding-type',
  'key-marker',
  'version-id-marker',
  'upload-id-marker',
  'max-uploads',
  'uploadId',
  'partNumber',
  'max-parts',
  'part-number-marker',
  'versionId',
]);
