/**
 * The protocol core of lanfs's S3 front end (issue 12): everything about S3
 * that needs no socket and no file, so the HTTP wiring stays thin. It owns the
 * SigV4 check, aws-chunked bodies, the request → operation parse, listings, the
 * XML and the S3 errors; it must not touch sockets or files (the front end in
 * web/ and server/ does, through the file service). Only src/web and src/server
 * import it (eslint.config.js).
 *
 * Decisions (written down here; the README part comes with the wiring):
 * - Path-style S3 under the prefix `/s3` (`aws --endpoint-url http://HOST:PORT/s3`);
 *   SigV4 signs the whole path, prefix included.
 * - One bucket per top-level folder; key K of bucket B is the lanfs file `B/K`;
 *   top-level files and folders with names that are not bucket names are not seen.
 * - Access key id `lanfs`, secret the cluster key, any region, service `s3`.
 *
 * Use:
 *   const verified = verifyRequestSignature({ method, rawPath, query, headers }, { secretKey });
 *   const op = parseS3Request({ method, rawPath, query, headers });
 *   // ... run op against the file service; errors: s3ErrorFrom(err) → errorXml(...)
 */
export { AwsChunkedDecoder, type AwsChunkedOptions } from './aws-chunked.ts';
export { parseRangeHeader, resolveRange, type ByteRange } from './byte-range.ts';
export {
  checksumAlgorithmOf,
  createChecksum,
  type Checksum,
  type ChecksumAlgorithm,
} from './checksums.ts';
export { md5Hex, multipartEtag, quoteEtag, unquoteEtag } from './etag.ts';
export {
  compareKeys,
  listBuckets,
  listObjectsV1,
  listObjectsV2,
  listObjectVersions,
  MAX_KEYS,
  type BucketEntry,
  type ObjectEntry,
  type VersionEntry,
} from './listing.ts';
export { isValidBucketName, objectName, splitObjectName } from './object-names.ts';
export {
  DEFAULT_S3_PREFIX,
  isS3Path,
  parseS3Request,
  type ObjectTarget,
  type S3Operation,
  type S3OperationKind,
  type S3RequestInput,
} from './request.ts';
export { S3Error, s3ErrorFrom, type S3ErrorCode } from './s3-error.ts';
export {
  EMPTY_SHA256,
  LANFS_ACCESS_KEY_ID,
  PAYLOAD_HASH,
  verifyRequestSignature,
  type SignedRequest,
  type VerifiedRequest,
} from './sigv4.ts';
export * from './xml.ts';
