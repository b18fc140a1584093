/**
 * The logic of ListObjects (v1 and v2), ListObjectVersions and ListBuckets as
 * pure functions over what the file service lists, so paging rules are tested
 * without a server. Entries must come sorted by key in UTF-8 byte order (S3's
 * order; `compareKeys`), versions of one key newest first.
 *
 * Paging: at most `maxKeys` (default and ceiling 1000) keys and CommonPrefixes
 * together; the v2 continuation token is opaque to clients and is base64 of the
 * last key or common prefix returned, so a listing resumes right after it even
 * if files came or went in between; v1 resumes from `marker` (NextMarker, or
 * the last key). A common prefix is returned once across pages.
 */
import { isValidBucketName } from './object-names.ts';
import { S3Error } from './s3-error.ts';

export const MAX_KEYS = 1000;

export interface ObjectEntry {
  key: string;
  size: number;
  /** MD5 hex (or multipart form), without quotes. */
  etag: string;
  lastModified: Date;
}

export interface VersionEntry extends ObjectEntry {
  versionId: string;
  isLatest: boolean;
}

export interface ListObjectsPage<T extends ObjectEntry = ObjectEntry> {
  contents: T[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** Key count of v2: contents plus common prefixes. */
  keyCount: number;
  /** When truncated: the last key or common prefix returned (NextMarker of v1). */
  nextMarker?: string;
}

export interface ListObjectsV2Page extends ListObjectsPage {
  nextContinuationToken?: string;
}

export interface ListParams {
  prefix?: string;
  delimiter?: string;
  maxKeys?: number;
}

/** S3's key order: UTF-8 bytes, which is not JavaScript's UTF-16 order above U+FFFF. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function encodeContinuationToken(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64');
}

export function decodeContinuationToken(token: string): string {
  const key = Buffer.from(token, 'base64').toString('utf8');
  if (token === '' || encodeContinuationToken(key) !== token) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect.');
  }
  return key;
}

/** ListObjects v1: resumes after `marker`. */
export function listObjectsV1(
  entries: Iterable<ObjectEntry>,
  params: ListParams & { marker?: string },
): ListObjectsPage {
  const after = params.marker ?? '';
  return listPage(entries, params, (e) => compareKeys(e.key, after) <= 0, after);
}

/** ListObjects v2: resumes after the continuation token, else after `startAfter`. */
export function listObjectsV2(
  entries: Iterable<ObjectEntry>,
  params: ListParams & { continuationToken?: string; startAfter?: string },
): ListObjectsV2Page {
  const after =
    params.continuationToken !== undefined
      ? decodeContinuationToken(params.continuationToken)
      : (params.startAfter ?? '');
  const page = listPage(entries, params, (e) => compareKeys(e.key, after) <= 0, after);
  return page.nextMarker === undefined
    ? page
    : { ...page, nextContinuationToken: encodeContinuationToken(page.nextMarker) };
}

export interface ListVersionsPage extends ListObjectsPage<VersionEntry> {
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/**
 * ListObjectVersions: resumes after every version of `keyMarker`, or, with
 * `versionIdMarker`, after that version of `keyMarker`.
 */
export function listObjectVersions(
  entries: Iterable<VersionEntry>,
  params: ListParams & { keyMarker?: string; versionIdMarker?: string },
): ListVersionsPage {
  const keyMarker = params.keyMarker ?? '';
  const versionIdMarker = params.versionIdMarker ?? '';
  let passedVersionMarker = false;
  const skip = (e: VersionEntry): boolean => {
    const order = compareKeys(e.key, keyMarker);
    if (order !== 0) return order < 0;
    if (versionIdMarker === '' || passedVersionMarker) return versionIdMarker === '';
    if (e.versionId === versionIdMarker) passedVersionMarker = true;
    return true;
  };
  const page = listPage(entries, params, skip, keyMarker);
  if (!page.isTruncated) return page;
  const last = page.contents.at(-1);
  const lastIsVersion = last !== undefined && last.key === page.nextMarker;
  return {
    ...page,
    nextKeyMarker: page.nextMarker,
    nextVersionIdMarker: lastIsVersion ? last.versionId : undefined,
  };
}

function listPage<T extends ObjectEntry>(
  entries: Iterable<T>,
  params: ListParams,
  skip: (entry: T) => boolean,
  after: string,
): ListObjectsPage<T> {
  const prefix = params.prefix ?? '';
  const delimiter = params.delimiter ?? '';
  const maxKeys = Math.min(params.maxKeys ?? MAX_KEYS, MAX_KEYS);
  const contents: T[] = [];
  const commonPrefixes: string[] = [];
  let last: string | undefined;
  let isTruncated = false;
  // max-keys=0 answers an empty, complete page: a truncated one would have no marker to go on from.
  if (maxKeys <= 0) return { contents, commonPrefixes, isTruncated, keyCount: 0 };
  for (const entry of entries) {
    if (!entry.key.startsWith(prefix) || skip(entry)) continue;
    const cut = delimiter === '' ? -1 : entry.key.indexOf(delimiter, prefix.length);
    const commonPrefix = cut < 0 ? undefined : entry.key.slice(0, cut + delimiter.length);
    // A prefix already returned, on this page or (as the marker) on the one before.
    if (commonPrefix !== undefined && (commonPrefix === last || commonPrefix === after)) continue;
    if (contents.length + commonPrefixes.length === maxKeys) {
      isTruncated = true;
      break;
    }
    if (commonPrefix !== undefined) {
      commonPrefixes.push(commonPrefix);
      last = commonPrefix;
    } else {
      contents.push(entry);
      last = entry.key;
    }
  }
  return {
    contents,
    commonPrefixes,
    isTruncated,
    keyCount: contents.length + commonPrefixes.length,
    nextMarker: isTruncated ? last : undefined,
  };
}

export interface BucketEntry {
  name: string;
  creationDate: Date;
}

/** The buckets: top-level folders whose names are valid bucket names, sorted. */
export function listBuckets(folders: Iterable<BucketEntry>): BucketEntry[] {
  return [...folders]
    .filter((f) => isValidBucketName(f.name))
    .sort((a, b) => compareKeys(a.name, b.name));
}
