/**
 * GET /api/files: the files in name order as one JSON array, streamed a page at a
 * time (each page looked up after the last name sent, in the view's sorted index)
 * and written as the socket takes it, so a million files never sit in one array or
 * one string. `limit`, `after` and `prefix` in the query give one page of a
 * listing, as `lanfs show --limit --after --prefix`; each element is what `show
 * --json` prints for the file, with who edits it and what the scrubs found.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Scrubber } from '../cluster/scrubber.ts';
import { drained } from '../http/drained.ts';
import { fileJson } from '../protocol/listing.ts';
import type { FileRecord, Lease } from '../protocol/messages.ts';
import {
  verificationOf,
  VERIFY_NAMES_PER_REQUEST,
  type Verification,
} from '../protocol/verification.ts';
import type { FileService } from '../service/file-service.ts';
import { UsageError } from '../shared/errors.ts';

/** Files the event stream's snapshot carries: the dashboard's first page (`filesMore` if cut). */
export const SNAPSHOT_FILES = 1000;

/** Files looked up, checked and written per step. */
const STEP_RECORDS = 2000;

export interface ListingQuery {
  limit: number | undefined;
  after: string | undefined;
  prefix: string | undefined;
}

/** The listing asked for in a URL's query; UsageError (400) for a limit that is no count. */
export function listingQuery(url: URL): ListingQuery {
  const limitText = url.searchParams.get('limit');
  let limit: number | undefined;
  if (limitText !== null && limitText !== '') {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || !Number.isSafeInteger(limit) || limit < 1)
      throw new UsageError(`limit takes a number of files (1 or more), not "${limitText}".`);
  }
  return {
    limit,
    after: url.searchParams.get('after') ?? undefined,
    prefix: url.searchParams.get('prefix') || undefined,
  };
}

/** The JSON elements of records, as `show --json` prints them. */
export function filesJson(
  records: FileRecord[],
  leases: ReadonlyMap<string, Lease>,
  verified: ReadonlyMap<string, Verification>,
): Record<string, unknown>[] {
  return records.map((r) => ({
    ...fileJson(r, leases.get(r.name)),
    verified: verified.get(r.name),
  }));
}

export async function serveFileListing(
  req: IncomingMessage,
  res: ServerResponse,
  query: ListingQuery,
  c: { files: FileService; scrubber?: Pick<Scrubber, 'clusterReport'> },
): Promise<number> {
  // Issue 14: a file open in `lanfs edit` says who edits it (`editing`).
  const leases = new Map((await c.files.leasesEverywhere()).map((l) => [l.name, l]));
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
  if (req.method === 'HEAD') {
    res.end();
    return 200;
  }
  let left = query.limit ?? Infinity;
  const step = (after: string | undefined): Step => {
    const records = c.files.list(Math.min(left, STEP_RECORDS), after, query.prefix);
    left -= records.length;
    const verified = verifiedOf(c.scrubber, records);
    verified.catch(() => undefined); // awaited in order below; not unhandled meanwhile
    return { records, verified, last: records.length < STEP_RECORDS || left <= 0 };
  };
  let first = true;
  // The next step is looked up and its scrub findings asked for while this one is written.
  for (let now = step(query.after); now.records.length > 0 && !res.destroyed;) {
    const next = now.last ? undefined : step(now.records[now.records.length - 1]!.name);
    const text = filesJson(now.records, leases, await now.verified)
      .map((element) => JSON.stringify(element))
      .join(',\n');
    const ok = res.write(`${first ? '[\n' : ',\n'}${text}`);
    first = false;
    if (!ok) await drained(res);
    if (!next) break;
    now = next;
  }
  res.end(first ? '[]\n' : '\n]\n');
  return 200;
}

interface Step {
  records: FileRecord[];
  verified: Promise<Map<string, Verification>>;
  /** No step follows (the limit is reached, or the names ran out). */
  last: boolean;
}

/** What every server's scrub found of each file (issue 13), a page of names at a time. */
export async function verifiedOf(
  scrubber: Pick<Scrubber, 'clusterReport'> | undefined,
  records: FileRecord[],
): Promise<Map<string, Verification>> {
  const out = new Map<string, Verification>();
  if (!scrubber) return out;
  for (let i = 0; i < records.length; i += VERIFY_NAMES_PER_REQUEST) {
    const page = records.slice(i, i + VERIFY_NAMES_PER_REQUEST);
    const { files } = await scrubber.clusterReport({
      start: false,
      local: false,
      names: page.map((r) => r.name),
    });
    for (const record of page) out.set(record.name, verificationOf(record, files));
  }
  return out;
}
