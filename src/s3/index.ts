/**
 * lanfs's S3 front end (issue 12). Two parts:
 * - The protocol core, pure (no socket, no file): the SigV4 check, aws-chunked
 *   bodies, the request → operation parse, listings, the XML and the S3 errors.
 * - The wiring (s3-handler.ts, s3-multipart.ts, s3-body.ts, s3-answer.ts): runs
 *   operations on the file service; only these modules may use service/, cluster/,
 *   http/ and storage/ at run time (eslint.config.js, S3_WIRING).
 * Only src/web and src/server import this folder.
 *
 * Decisions (README "Use lanfs from S3 tools" says the same to users):
 * - S3 at the root of every server's HTTP port, path style (`http://HOST:HTTPPORT`
 *   is the endpoint for every client; s3cmd cannot take a path in its endpoint). A
 *   request is S3 by its signature: an `Authorization: AWS4-HMAC-SHA256 …` header
 *   or a presigned `X-Amz-Algorithm` query, whatever its path (the dashboard, /api,
 *   /files and /dav never use SigV4).
 * - Access key id `lanfs`, secret the cluster key, any region, service `s3`. Under
 *   --insecure signatures are parsed but not checked (there is no secret), and
 *   streamed bodies are decoded without checking their chunk signatures.
 * - One bucket per top-level folder; key K of bucket B is the lanfs file `B/K`, so
 *   the CLI, WebDAV and S3 see the same files under the same names; top-level files
 *   and folders whose names are not bucket names are not seen. CreateBucket makes
 *   the folder marker `B/.lanfs-folder` (protocol/file-name.ts FOLDER_MARKER, shared
 *   with WebDAV's empty folders); markers are never listed as objects; DeleteBucket
 *   is BucketNotEmpty unless only the marker is left; a bucket whose last object is
 *   deleted keeps (gets) its marker.
 * - Writes of an existing name (PutObject over it = its next version, DeleteObject,
 *   CopyObject onto it, CreateMultipartUpload for it) run on the file's acting
 *   primary, forwarded whole over HTTP (http/forward.ts; the signature holds because
 *   method, path, query, headers and Host are unchanged; the hop header
 *   x-lanfs-forwarded is not x-amz-*). New names are created where the request
 *   arrives. Reads stream from a local holder or through relayDownload.
 * - ETag: the record's s3ETag (MD5 hex, or `hex-N` after a multipart upload) when
 *   written through S3; otherwise (CLI, WebDAV, HTTP) `"<first 32 hex of sha256>-1"`,
 *   stable, and by its `-N` form not taken for an MD5 by aws-cli, rclone or s3cmd.
 * - versionId is the lanfs version number: the current one is served, an older one
 *   from the versions its holders keep (issue 14; NoSuchVersion once pruned);
 *   ListObjectVersions lists each key's current version, then its kept ones.
 * - Multipart: the upload lives on the server that started it (uploadId
 *   `<serverId>-<hex>`); its parts under DIR/.lanfs/multipart/<uploadId>/
 *   (storage/multipart-store.ts); requests about it sent elsewhere are forwarded
 *   there; Complete streams the parts into one create or edit (whole or nothing);
 *   --multipart-expiry (default 24h) removes uploads left alone that long.
 *   ListMultipartUploads lists the uploads of the server asked.
 *
 * Use:
 *   if (isS3Request(req)) return await createS3Handler({ files, view, credentials, multipart, logger })(req, res);
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
export {
  createS3Handler,
  isS3Request,
  s3EtagOf,
  type S3Components,
  type S3Handler,
} from './s3-handler.ts';
/** The multipart parts store the server makes and the S3 handler uses (for web/'s types). */
export type { MultipartStore } from '../storage/multipart-store.ts';
