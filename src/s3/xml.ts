/**
 * The XML of the S3 API: builders for the answers (Error, ListAllMyBucketsResult,
 * ListBucketResult v1 and v2, ListVersionsResult, the multipart results,
 * DeleteResult, CopyObjectResult, LocationConstraint) and parsers for the request
 * bodies (Delete, CompleteMultipartUpload, CreateBucketConfiguration), all through
 * fast-xml-parser. Request bodies are untrusted: over 1 MiB, not well-formed, or
 * with a DOCTYPE or entity declaration (the way to an entity-expansion bomb) they
 * are MalformedXML, before any parsing beyond the well-formedness check.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { quoteEtag, unquoteEtag } from './etag.ts';
import type {
  BucketEntry,
  ListObjectsPage,
  ListObjectsV2Page,
  ListVersionsPage,
  ObjectEntry,
} from './listing.ts';
import { S3Error, type S3ErrorCode } from './s3-error.ts';
import { awsUriEncode } from './uri-encoding.ts';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
export const MAX_XML_BODY_BYTES = 1024 * 1024;
/** S3's limit for DeleteObjects. */
export const MAX_DELETE_KEYS = 1000;
/** S3's limit of parts in a multipart upload. */
export const MAX_PARTS = 10_000;
/** lanfs has one user; S3 answers name an owner, and clients print it. */
export const OWNER = { ID: 'lanfs', DisplayName: 'lanfs' } as const;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  processEntities: true,
  suppressEmptyNode: false,
});

type XmlValue = string | number | boolean | undefined | XmlObject | XmlValue[];
interface XmlObject {
  [name: string]: XmlValue;
}

/** A whole document with the S3 namespace on its root; undefined fields are left out. */
function document(root: string, body: XmlObject | string): string {
  const content = typeof body === 'string' ? { '#text': body } : prune(body);
  const xml = builder.build({ [root]: { '@_xmlns': S3_XMLNS, ...content } });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}

function prune(value: XmlObject): XmlObject {
  const out: XmlObject = {};
  for (const [name, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) out[name] = v.map((x) => (isObject(x) ? prune(x) : x));
    else out[name] = isObject(v) ? prune(v) : v;
  }
  return out;
}

function isObject(v: XmlValue): v is XmlObject {
  return typeof v === 'object' && !Array.isArray(v);
}

const iso = (date: Date): string => date.toISOString();

export function errorXml(error: {
  code: S3ErrorCode;
  message: string;
  resource?: string;
  requestId: string;
}): string {
  const xml = builder.build({
    Error: {
      Code: error.code,
      Message: error.message,
      Resource: error.resource,
      RequestId: error.requestId,
    },
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}

export function listAllMyBucketsXml(buckets: BucketEntry[]): string {
  return document('ListAllMyBucketsResult', {
    Owner: { ...OWNER },
    Buckets: {
      Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: iso(b.creationDate) })),
    },
  });
}

export interface ListRequestEcho {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  maxKeys: number;
  /** `url`: keys, prefixes and markers are URI-encoded, for keys XML 1.0 cannot carry. */
  encodingType?: 'url';
}

function encoder(
  encodingType: 'url' | undefined,
): (text: string | undefined) => string | undefined {
  return (text) => (text === undefined || encodingType !== 'url' ? text : awsUriEncode(text, true));
}

function objectXml(e: ObjectEntry, enc: (t: string) => string | undefined): XmlObject {
  return {
    Key: enc(e.key),
    LastModified: iso(e.lastModified),
    ETag: quoteEtag(e.etag),
    Size: e.size,
    StorageClass: 'STANDARD',
  };
}

function commonPrefixesXml(prefixes: string[], enc: (t: string) => string | undefined): XmlValue {
  return prefixes.length === 0 ? undefined : prefixes.map((p) => ({ Prefix: enc(p) }));
}

export function listBucketV1Xml(
  echo: ListRequestEcho & { marker?: string },
  page: ListObjectsPage,
): string {
  const enc = encoder(echo.encodingType);
  return document('ListBucketResult', {
    Name: echo.bucket,
    Prefix: enc(echo.prefix ?? ''),
    Marker: enc(echo.marker ?? ''),
    NextMarker: enc(page.nextMarker),
    MaxKeys: echo.maxKeys,
    Delimiter: enc(echo.delimiter),
    IsTruncated: page.isTruncated,
    EncodingType: echo.encodingType,
    Contents: page.contents.map((e) => objectXml(e, enc)),
    CommonPrefixes: commonPrefixesXml(page.commonPrefixes, enc),
  });
}

export function listBucketV2Xml(
  echo: ListRequestEcho & { continuationToken?: string; startAfter?: string; fetchOwner?: boolean },
  page: ListObjectsV2Page,
): string {
  const enc = encoder(echo.encodingType);
  return document('ListBucketResult', {
    Name: echo.bucket,
    Prefix: enc(echo.prefix ?? ''),
    StartAfter: enc(echo.startAfter),
    ContinuationToken: echo.continuationToken,
    NextContinuationToken: page.nextContinuationToken,
    KeyCount: page.keyCount,
    MaxKeys: echo.maxKeys,
    Delimiter: enc(echo.delimiter),
    IsTruncated: page.isTruncated,
    EncodingType: echo.encodingType,
    Contents: page.contents.map((e) => ({
      ...objectXml(e, enc),
      Owner: echo.fetchOwner === true ? { ...OWNER } : undefined,
    })),
    CommonPrefixes: commonPrefixesXml(page.commonPrefixes, enc),
  });
}

export function listVersionsXml(
  echo: ListRequestEcho & { keyMarker?: string; versionIdMarker?: string },
  page: ListVersionsPage,
): string {
  const enc = encoder(echo.encodingType);
  return document('ListVersionsResult', {
    Name: echo.bucket,
    Prefix: enc(echo.prefix ?? ''),
    KeyMarker: enc(echo.keyMarker ?? ''),
    VersionIdMarker: echo.versionIdMarker ?? '',
    NextKeyMarker: enc(page.nextKeyMarker),
    NextVersionIdMarker: page.nextVersionIdMarker,
    MaxKeys: echo.maxKeys,
    Delimiter: enc(echo.delimiter),
    IsTruncated: page.isTruncated,
    EncodingType: echo.encodingType,
    Version: page.contents.map((v) => ({
      Key: enc(v.key),
      VersionId: v.versionId,
      IsLatest: v.isLatest,
      LastModified: iso(v.lastModified),
      ETag: quoteEtag(v.etag),
      Size: v.size,
      Owner: { ...OWNER },
      StorageClass: 'STANDARD',
    })),
    CommonPrefixes: commonPrefixesXml(page.commonPrefixes, enc),
  });
}

export function initiateMultipartUploadXml(r: {
  bucket: string;
  key: string;
  uploadId: string;
}): string {
  return document('InitiateMultipartUploadResult', {
    Bucket: r.bucket,
    Key: r.key,
    UploadId: r.uploadId,
  });
}

export function completeMultipartUploadXml(r: {
  location: string;
  bucket: string;
  key: string;
  etag: string;
}): string {
  return document('CompleteMultipartUploadResult', {
    Location: r.location,
    Bucket: r.bucket,
    Key: r.key,
    ETag: quoteEtag(r.etag),
  });
}

export interface PartEntry {
  partNumber: number;
  lastModified: Date;
  etag: string;
  size: number;
}

export function listPartsXml(r: {
  bucket: string;
  key: string;
  uploadId: string;
  partNumberMarker: number;
  nextPartNumberMarker?: number;
  maxParts: number;
  isTruncated: boolean;
  parts: PartEntry[];
}): string {
  return document('ListPartsResult', {
    Bucket: r.bucket,
    Key: r.key,
    UploadId: r.uploadId,
    Initiator: { ...OWNER },
    Owner: { ...OWNER },
    StorageClass: 'STANDARD',
    PartNumberMarker: r.partNumberMarker,
    NextPartNumberMarker: r.nextPartNumberMarker,
    MaxParts: r.maxParts,
    IsTruncated: r.isTruncated,
    Part: r.parts.map((p) => ({
      PartNumber: p.partNumber,
      LastModified: iso(p.lastModified),
      ETag: quoteEtag(p.etag),
      Size: p.size,
    })),
  });
}

export function listMultipartUploadsXml(r: {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  keyMarker?: string;
  uploadIdMarker?: string;
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
  maxUploads: number;
  isTruncated: boolean;
  uploads: { key: string; uploadId: string; initiated: Date }[];
  commonPrefixes?: string[];
}): string {
  return document('ListMultipartUploadsResult', {
    Bucket: r.bucket,
    KeyMarker: r.keyMarker ?? '',
    UploadIdMarker: r.uploadIdMarker ?? '',
    NextKeyMarker: r.nextKeyMarker,
    NextUploadIdMarker: r.nextUploadIdMarker,
    Prefix: r.prefix ?? '',
    Delimiter: r.delimiter,
    MaxUploads: r.maxUploads,
    IsTruncated: r.isTruncated,
    Upload: r.uploads.map((u) => ({
      Key: u.key,
      UploadId: u.uploadId,
      Initiator: { ...OWNER },
      Owner: { ...OWNER },
      StorageClass: 'STANDARD',
      Initiated: iso(u.initiated),
    })),
    CommonPrefixes: commonPrefixesXml(r.commonPrefixes ?? [], (t) => t),
  });
}

export function deleteResultXml(r: {
  deleted: { key: string; versionId?: string }[];
  errors: { key: string; versionId?: string; code: S3ErrorCode; message: string }[];
}): string {
  return document('DeleteResult', {
    Deleted: r.deleted.map((d) => ({ Key: d.key, VersionId: d.versionId })),
    Error: r.errors.map((e) => ({
      Key: e.key,
      VersionId: e.versionId,
      Code: e.code,
      Message: e.message,
    })),
  });
}

export function copyObjectResultXml(r: { etag: string; lastModified: Date }): string {
  return document('CopyObjectResult', {
    ETag: quoteEtag(r.etag),
    LastModified: iso(r.lastModified),
  });
}

/** Empty means us-east-1 to every client; lanfs has no regions, so that is what it says. */
export function locationConstraintXml(region?: string): string {
  return document('LocationConstraint', region ?? '');
}

/** GetBucketVersioning of a bucket versioning was never set on: no Status at all. */
export function versioningConfigurationXml(): string {
  return document('VersioningConfiguration', {});
}

// ---- request bodies ----

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  // Keys may begin or end with spaces; element text is kept as sent.
  trimValues: false,
  // The five XML entities and numeric references, nothing else: an (empty) map of
  // named entities turns numeric references on without HTML names like &nbsp;.
  // The runtime accepts the map (OrderedObjParser); the typings only know booleans.
  processEntities: true,
  htmlEntities: {} as unknown as boolean,
  isArray: (_name, jpath) => jpath === 'Delete.Object' || jpath === 'CompleteMultipartUpload.Part',
});

function malformed(detail: string): S3Error {
  return new S3Error(
    'MalformedXML',
    `The XML you provided was not well-formed or did not validate against our published schema: ${detail}`,
  );
}

/** The body's root element's content, after every check for untrusted XML. */
function parseBody(body: Buffer | string, root: string): Record<string, unknown> {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > MAX_XML_BODY_BYTES) throw malformed('the body is larger than 1 MiB.');
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (/<!DOCTYPE|<!ENTITY/i.test(text))
    throw malformed('DOCTYPE and entity declarations are refused.');
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw malformed(`${valid.err.msg} (line ${valid.err.line}).`);
  const parsed = parser.parse(text) as Record<string, unknown>;
  const content = parsed[root];
  if (content === undefined) throw malformed(`the root element must be <${root}>.`);
  return typeof content === 'object' && content !== null
    ? (content as Record<string, unknown>)
    : {};
}

function text(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  // An element holding only whitespace around nothing parses as an object with #text.
  if (typeof value === 'object' && value !== null && '#text' in value) {
    const inner = value['#text'];
    return typeof inner === 'string' ? inner : undefined;
  }
  return undefined;
}

export interface DeleteRequest {
  quiet: boolean;
  objects: { key: string; versionId?: string }[];
}

/** The body of DeleteObjects (POST ?delete): 1 to 1000 keys. */
export function parseDeleteRequest(body: Buffer | string): DeleteRequest {
  const root = parseBody(body, 'Delete');
  const objects = (root.Object as unknown[] | undefined) ?? [];
  if (objects.length === 0) throw malformed('<Delete> has no <Object>.');
  if (objects.length > MAX_DELETE_KEYS)
    throw malformed(`<Delete> may name at most ${MAX_DELETE_KEYS} objects.`);
  return {
    quiet: text(root.Quiet)?.trim().toLowerCase() === 'true',
    objects: objects.map((o) => {
      const fields = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
      const key = text(fields.Key);
      if (key === undefined || key === '') throw malformed('every <Object> needs a <Key>.');
      const versionId = text(fields.VersionId)?.trim();
      return versionId ? { key, versionId } : { key };
    }),
  };
}

export interface CompletedPart {
  partNumber: number;
  /** Without quotes. */
  etag: string;
}

/** The body of CompleteMultipartUpload: parts in ascending order, numbers 1 to 10000. */
export function parseCompleteMultipartUpload(body: Buffer | string): CompletedPart[] {
  const root = parseBody(body, 'CompleteMultipartUpload');
  const parts = (root.Part as unknown[] | undefined) ?? [];
  if (parts.length === 0) throw malformed('<CompleteMultipartUpload> has no <Part>.');
  if (parts.length > MAX_PARTS) throw malformed(`an upload has at most ${MAX_PARTS} parts.`);
  let previous = 0;
  return parts.map((p) => {
    const fields = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    const numberText = text(fields.PartNumber)?.trim() ?? '';
    const etag = text(fields.ETag);
    if (!/^\d{1,5}$/.test(numberText) || etag === undefined)
      throw malformed('every <Part> needs a <PartNumber> and an <ETag>.');
    const partNumber = Number(numberText);
    if (partNumber < 1 || partNumber > MAX_PARTS) {
      throw new S3Error(
        'InvalidArgument',
        `Part number must be an integer between 1 and ${MAX_PARTS}.`,
      );
    }
    if (partNumber <= previous) {
      throw new S3Error(
        'InvalidPartOrder',
        'The list of parts was not in ascending order; list them by part number, each once.',
      );
    }
    previous = partNumber;
    return { partNumber, etag: unquoteEtag(etag) };
  });
}

/** The optional body of CreateBucket; an empty body is no configuration. */
export function parseCreateBucketConfiguration(body: Buffer | string): {
  locationConstraint?: string;
} {
  if ((typeof body === 'string' ? body : body.toString('utf8')).trim() === '') return {};
  const root = parseBody(body, 'CreateBucketConfiguration');
  const location = text(root.LocationConstraint)?.trim();
  return location ? { locationConstraint: location } : {};
}
