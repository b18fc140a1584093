/**
 * The Range header of GetObject and HeadObject, as S3 reads it: one range
 * `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-SUFFIX`. A header that does not
 * parse, or asks for several ranges, is ignored and the whole object is sent
 * (RFC 9110 allows ignoring Range; S3 does not serve multipart/byteranges). A
 * range that starts past the end is 416 InvalidRange.
 */
import { S3Error } from './s3-error.ts';

export type ByteRange = { first: number; last?: number } | { suffix: number };

export function parseRangeHeader(header: string | undefined): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') return { suffix: Number(last) };
  if (last === '') return { first: Number(first) };
  if (Number(last) < Number(first)) return undefined;
  return { first: Number(first), last: Number(last) };
}

/** The inclusive byte positions to send of an object of `size` bytes. */
export function resolveRange(range: ByteRange, size: number): { start: number; end: number } {
  const unsatisfiable = (): S3Error =>
    new S3Error(
      'InvalidRange',
      `The requested range is not satisfiable: the object has ${size} bytes.`,
    );
  if ('suffix' in range) {
    if (range.suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - range.suffix), end: size - 1 };
  }
  if (range.first >= size) throw unsatisfiable();
  return { start: range.first, end: Math.min(range.last ?? size - 1, size - 1) };
}
