/**
 * The HTTP headers of a file download, wherever its bytes come from (this
 * server's disk or a holder over the peer link): ETag, the one range a client
 * may ask for (RFC 9110 lets a server ignore the rest) and If-None-Match.
 */
import type { FileRecord } from '../protocol/messages.ts';

/** A byte range of a file, both ends included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range of a `Range: bytes=a-b | a- | -n` header: a range, 'unsatisfiable'
 * (416), or undefined to send the whole file (no header, another unit, several
 * ranges or bad syntax, which RFC 9110 lets a server ignore).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) return undefined; // invalid: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export function etagOf(record: FileRecord): string {
  return `"${record.sha256}"`;
}

/** Whether an If-None-Match header names this ETag (or `*`). */
export function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/** What a GET of record answers: its status, headers and the bytes [start, end] to send. */
export type FileAnswer =
  | { status: 304 | 416; headers: Record<string, string | number> }
  | { status: 200 | 206; headers: Record<string, string | number>; start: number; end: number };

/** The answer to a GET or HEAD of record with these request headers. */
export function answerFor(
  record: FileRecord,
  request: { ifNoneMatch?: string; ifRange?: string; range?: string },
): FileAnswer {
  const etag = etagOf(record);
  const headers: Record<string, string | number> = {
    ETag: etag,
    'Accept-Ranges': 'bytes',
    'X-Lanfs-Version': String(record.version),
  };
  if (ifNoneMatch(request.ifNoneMatch, etag)) return { status: 304, headers };
  // If-Range with another version: the whole (new) file, not a piece of it.
  const range =
    request.ifRange === undefined || request.ifRange === etag
      ? parseRange(request.range, record.size)
      : undefined;
  if (range === 'unsatisfiable')
    return { status: 416, headers: { ...headers, 'Content-Range': `bytes */${record.size}` } };
  const { start, end } = range ?? { start: 0, end: record.size - 1 };
  const baseName = record.name.split('/').pop()!;
  return {
    status: range ? 206 : 200,
    headers: {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': end - start + 1,
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${record.size}` } : {}),
      'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(baseName)}`,
    },
    start,
    end,
  };
}
