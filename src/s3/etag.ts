/**
 * S3's ETag rules, which clients check (aws-cli and rclone compare them with
 * their own MD5s): a whole object's ETag is the MD5 of its bytes in hex; a
 * multipart object's is the MD5 of the concatenated binary MD5s of its parts,
 * in hex, then `-` and the number of parts. In HTTP headers and XML the ETag
 * is written in double quotes.
 */
import { createHash } from 'node:crypto';

export function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** The ETag of an object uploaded in parts, from the parts' MD5s (hex) in part order. */
export function multipartEtag(partMd5Hex: readonly string[]): string {
  const hash = createHash('md5');
  for (const md5 of partMd5Hex) hash.update(Buffer.from(md5, 'hex'));
  return `${hash.digest('hex')}-${partMd5Hex.length}`;
}

/** `abc` → `"abc"`, for the ETag header and the <ETag> of XML answers. */
export function quoteEtag(etag: string): string {
  return `"${unquoteEtag(etag)}"`;
}

/** Accepts an ETag with or without quotes (clients send both in CompleteMultipartUpload). */
export function unquoteEtag(etag: string): string {
  const trimmed = etag.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
    ? trimmed.slice(1, -1)
    : trimmed;
}
