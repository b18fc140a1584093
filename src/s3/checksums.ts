/**
 * The additional checksums of S3 (`x-amz-checksum-ALG`, sent as a header or as a
 * trailer of an aws-chunked body; current AWS SDKs send CRC32 by default). Each
 * is computed while the body streams through and compared, base64-encoded, with
 * what the client sent. Known: crc32 (zlib), crc32c (a table here: it is not in
 * node), sha1, sha256. Unknown algorithms (crc64nvme, newer ones) cannot be
 * checked and are accepted unchecked: the SigV4 signature or the object's MD5
 * ETag still covers the bytes, and refusing them would break newer clients.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const CHECKSUM_HEADER_PREFIX = 'x-amz-checksum-';
export const KNOWN_CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof KNOWN_CHECKSUM_ALGORITHMS)[number];

export interface Checksum {
  readonly algorithm: ChecksumAlgorithm;
  update(data: Buffer): void;
  /** The checksum as S3 writes it: base64 of the big-endian bytes. */
  digestBase64(): string;
}

/** The algorithm named by a header like `x-amz-checksum-crc32`, or undefined if unknown. */
export function checksumAlgorithmOf(headerName: string): ChecksumAlgorithm | undefined {
  const name = headerName.toLowerCase();
  if (!name.startsWith(CHECKSUM_HEADER_PREFIX)) return undefined;
  const algorithm = name.slice(CHECKSUM_HEADER_PREFIX.length);
  return (KNOWN_CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm)
    ? (algorithm as ChecksumAlgorithm)
    : undefined;
}

export function createChecksum(algorithm: ChecksumAlgorithm): Checksum {
  switch (algorithm) {
    case 'crc32':
      return crcChecksum(algorithm, (data, value) => crc32(data, value));
    case 'crc32c':
      return crcChecksum(algorithm, crc32c);
    case 'sha1':
    case 'sha256':
      return hashChecksum(algorithm, createHash(algorithm));
  }
}

function crcChecksum(
  algorithm: ChecksumAlgorithm,
  step: (data: Buffer, value: number) => number,
): Checksum {
  let value = 0;
  return {
    algorithm,
    update(data) {
      value = step(data, value);
    },
    digestBase64() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(value >>> 0);
      return out.toString('base64');
    },
  };
}

function hashChecksum(algorithm: ChecksumAlgorithm, hash: Hash): Checksum {
  return {
    algorithm,
    update(data) {
      hash.update(data);
    },
    digestBase64() {
      return hash.digest('base64');
    },
  };
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), continuing from `value`. */
export function crc32c(data: Buffer, value = 0): number {
  let crc = ~value >>> 0;
  for (let i = 0; i < data.length; i++) {
    crc = CRC32C_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
