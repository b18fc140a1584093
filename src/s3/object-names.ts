/**
 * How S3 buckets and keys map onto lanfs names. The decision (issue 12): one
 * bucket per top-level folder of the single system image, as MinIO does on a
 * plain folder. Object key K in bucket B is the lanfs file `B/K`, so the same
 * files are seen by the CLI, WebDAV and S3 under the same names, and a bucket
 * needs no record of its own beyond its folder. Consequences, written down:
 * - Files at the top level (no folder) are not visible through S3.
 * - A top-level folder whose name is not a valid S3 bucket name (upper case,
 *   spaces, `_`, under 3 characters, ...) is not listed as a bucket, and no
 *   request can name it.
 * - A key must make a valid lanfs name (SPEC §4) together with its bucket: no
 *   empty segments (`a//b`, a trailing `/` "folder marker"), no `.` or `..`
 *   segments, no control characters or backslashes, at most 1024 bytes for
 *   `B/K` and 255 bytes per segment. Keys are stored in Unicode NFC, so a key
 *   sent in another normal form is listed back in NFC.
 */
import { validateName } from '../protocol/file-name.ts';
import { InvalidNameError } from '../shared/errors.ts';
import { S3Error } from './s3-error.ts';

/** S3's bucket naming rules (general purpose buckets), minus the ones only AWS needs. */
export function isValidBucketName(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false;
  if (name.includes('..')) return false;
  // An IP-address-shaped name would be confused with a host by virtual-host style clients.
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return false;
  return true;
}

/** Throws InvalidBucketName unless `name` is a valid bucket name. */
export function checkBucketName(name: string): string {
  if (!isValidBucketName(name)) {
    throw new S3Error(
      'InvalidBucketName',
      `"${name}" is not a valid bucket name: use 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.`,
      { resource: `/${name}` },
    );
  }
  return name;
}

/**
 * The lanfs name of object `key` in `bucket`, in NFC. Throws KeyTooLongError or
 * InvalidArgument (with the lanfs rule that was broken) for keys lanfs cannot hold.
 */
export function objectName(bucket: string, key: string): string {
  checkBucketName(bucket);
  const resource = `/${bucket}/${key}`;
  if (key.length === 0)
    throw new S3Error('InvalidArgument', 'An object key cannot be empty.', { resource });
  try {
    return validateName(`${bucket}/${key}`);
  } catch (err) {
    if (!(err instanceof InvalidNameError)) throw err;
    if (/longer than/.test(err.message)) {
      throw new S3Error(
        'KeyTooLongError',
        `The key is too long: bucket, "/" and key together must fit in 1024 bytes, and each part between slashes in 255.`,
        { resource, cause: err },
      );
    }
    throw new S3Error('InvalidArgument', `lanfs cannot store this key: ${err.message}`, {
      resource,
      cause: err,
    });
  }
}

/** The bucket and key of a lanfs name, or undefined for names S3 does not see. */
export function splitObjectName(name: string): { bucket: string; key: string } | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) return undefined;
  const bucket = name.slice(0, slash);
  if (!isValidBucketName(bucket)) return undefined;
  return { bucket, key: name.slice(slash + 1) };
}
