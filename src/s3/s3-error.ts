/**
 * The errors of the S3 front end. S3 clients act on S3's own error codes
 * (`NoSuchKey`, `SignatureDoesNotMatch`, ...), which are part of the protocol
 * and fixed by AWS, so they form a catalogue of their own beside the LANFS_ERR_*
 * one in shared/errors.ts: every S3 answer that is not a success is an S3Error
 * with one of the codes below, its HTTP status and a one-sentence message for
 * the person running the S3 tool. `s3ErrorFrom` turns a LanfsError raised by the
 * file service into the S3 error a client expects.
 */
import { LanfsError } from '../shared/errors.ts';

/** S3 error code → HTTP status, as AWS documents them (ErrorResponses). */
export const S3_ERROR_STATUS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchVersion: 404,
  NotImplemented: 501,
  OperationAborted: 409,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
} as const;

export type S3ErrorCode = keyof typeof S3_ERROR_STATUS;

export interface S3ErrorOptions extends ErrorOptions {
  /** The bucket or object the request named; goes into the XML error's <Resource>. */
  resource?: string;
}

export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly status: number;
  readonly resource: string | undefined;
  constructor(code: S3ErrorCode, message: string, options?: S3ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = S3_ERROR_STATUS[code];
    this.resource = options?.resource;
    this.name = 'S3Error';
  }
}

/**
 * The S3 error for any failure of a request: S3Errors pass through, LanfsErrors
 * from the file service get the S3 code a client reacts to (a missing file is
 * NoSuchKey, so `aws s3 cp` says "does not exist"), and anything else is an
 * InternalError that does not leak its details.
 */
export function s3ErrorFrom(err: unknown, resource?: string): S3Error {
  if (err instanceof S3Error) return err;
  const options = { resource, cause: err };
  if (!(err instanceof LanfsError))
    return new S3Error('InternalError', 'The server failed; see its log for why.', options);
  switch (err.code) {
    case 'LANFS_ERR_NOT_FOUND':
      return new S3Error('NoSuchKey', 'The specified key does not exist.', options);
    case 'LANFS_ERR_INVALID_NAME':
    case 'LANFS_ERR_INVALID_METADATA':
      return new S3Error('InvalidArgument', err.message, options);
    case 'LANFS_ERR_NAME_EXISTS':
      // Another server is creating the same name at this moment, or the key clashes with a
      // folder (`a` when `a/b` exists, or the reverse), which S3 allows and a file system not.
      return new S3Error('OperationAborted', err.message, options);
    case 'LANFS_ERR_AUTH_FAILED':
    case 'LANFS_ERR_AUTH_REQUIRED':
      return new S3Error('AccessDenied', 'Access Denied.', options);
    case 'LANFS_ERR_EDIT_CONFLICT':
      return new S3Error('PreconditionFailed', err.message, options);
    case 'LANFS_ERR_CHECKSUM_MISMATCH':
      return new S3Error('BadDigest', err.message, options);
    case 'LANFS_ERR_TOO_LARGE':
    case 'LANFS_ERR_FRAME_TOO_LARGE':
      return new S3Error('EntityTooLarge', err.message, options);
    case 'LANFS_ERR_NO_SERVER':
    case 'LANFS_ERR_UNAVAILABLE':
    case 'LANFS_ERR_TIMEOUT':
    case 'LANFS_ERR_CONNECTION_CLOSED':
    case 'LANFS_ERR_DISK_FULL':
      // 503 makes SDKs retry with back-off, which is right for a server that is down or full.
      return new S3Error('ServiceUnavailable', err.message, options);
    default:
      return new S3Error('InternalError', err.message, options);
  }
}
