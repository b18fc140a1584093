/**
 * The check of a file record as it arrives in bulk (PEER_RECORDS, LIST_PAGE): a
 * million of them at a join or a listing. zod checks one in about as long as
 * JSON.parse takes to read it, and copies it; this check reads the parsed object
 * once and keeps it. It accepts exactly what fileRecordSchema accepts for the
 * records lanfs writes; anything else (an unknown field, metadata, placedAmong,
 * a value out of range) goes to fileRecordSchema itself, which decides, so the
 * two cannot disagree on what is refused.
 */
import type { FileRecord } from './messages.ts';

const HEX_ID = /^[0-9a-f]{8,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const LINEAGE = /^([0-9a-f]{8})*$/;
const S3_ETAG = /^[0-9a-f]{32}(-[0-9]{1,5})?$/;

const isString = (v: unknown, min: number, max: number): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max;
const isCount = (v: unknown, min: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/** Checks of the fields a record may carry on the fast path; any other goes to zod. */
const FIELD_CHECKS = new Map<string, (v: unknown) => boolean>(
  Object.entries({
    name: (v) => isString(v, 1, 4096),
    fileId: (v) => typeof v === 'string' && HEX_ID.test(v),
    size: (v) => isCount(v, 0),
    sha256: (v) => typeof v === 'string' && SHA256_HEX.test(v),
    version: (v) => isCount(v, 1),
    primary: (v) => isCount(v, 1),
    replicas: (v) => Array.isArray(v) && v.every((id) => isCount(id, 1)),
    modifiedAt: (v) => typeof v === 'number' && Number.isFinite(v),
    available: (v) => typeof v === 'boolean',
    conflictOf: (v) => isString(v, 0, 4096),
    requestId: (v) => isString(v, 1, 64),
    lineage: (v) => typeof v === 'string' && v.length <= 8 * 32 && LINEAGE.test(v),
    contentType: (v) => isString(v, 1, 256),
    s3ETag: (v) => typeof v === 'string' && S3_ETAG.test(v),
    writtenBy: (v: unknown) => isString(v, 1, 255),
  }),
);
const REQUIRED = ['name', 'fileId', 'size', 'sha256', 'version', 'primary', 'replicas'];

/** Whether value is a record the fast path can take as it is. */
function isPlainRecord(value: unknown): value is FileRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const fields = value as Record<string, unknown>;
  let found = 0;
  for (const key in fields) {
    const check = FIELD_CHECKS.get(key);
    if (!check || !check(fields[key])) return false;
    found++;
  }
  if (found < REQUIRED.length + 1) return false;
  for (const key of REQUIRED) if (!(key in fields)) return false;
  return 'modifiedAt' in fields;
}

/**
 * The records of a bulk message, checked: each one as it is when it passes the
 * fast check, else what `slow` makes of it (fileRecordSchema's parse, which
 * throws on a record it refuses).
 */
export function checkRecords(
  values: unknown[],
  slow: (value: unknown, index: number) => FileRecord,
): FileRecord[] {
  const records: FileRecord[] = new Array<FileRecord>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    records[i] = isPlainRecord(value) ? value : slow(value, i);
  }
  return records;
}
