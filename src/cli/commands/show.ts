/**
 * `lanfs show`: every file of every server (the single system image), or a page
 * of them (--limit, --after, --prefix), in name order. Streamed: each page the
 * server sends is printed (with what the scrubs found of its files) before the
 * next is read, so a million files never sit in one array here.
 */
import { once } from 'node:events';
import { print, type CliContext } from '../context.ts';
import { fileJson } from '../../protocol/listing.ts';
import { filesCount, formatRecordRows, noFilesYet, type RecordsFormat } from '../format.ts';
import { editedBy } from './edit.ts';
import type { LanfsClient, ListOptions } from '../../client/client.ts';
import type { FileRecord, Lease } from '../../protocol/messages.ts';
import { UsageError } from '../../shared/errors.ts';
import {
  verificationOf,
  VERIFY_NAMES_PER_REQUEST,
  type Verification,
} from '../../protocol/verification.ts';

export interface ShowOptions {
  json?: boolean;
  names?: boolean;
  limit?: string;
  after?: string;
  prefix?: string;
}

/** Pages whose scrub findings are asked for at once (see verifiedPages). */
const VERIFY_PAGES_AT_ONCE = 4;
/** Rows printed as one aligned block on a terminal (a listing of this many or fewer is one table). */
const TEXT_BLOCK_RECORDS = 5000;

export async function show(ctx: CliContext, options: ShowOptions): Promise<void> {
  const listing = listOptions(options);
  const client = await ctx.client();
  if (options.names) return await showNames(ctx, client, listing, options.json === true);
  const leases = new Map((await client.leases().catch(() => [])).map((l) => [l.name, l]));
  const pages = verifiedPages(client, client.listPages(listing));
  if (options.json) return await showJson(ctx, pages, leases);

  // Which holders are down, so a copy on a stopped server does not look like a live one.
  const status = await client.status();
  const down = new Set(status.servers.filter((s) => !s.up).map((s) => s.id));
  const format: RecordsFormat = { inShell: ctx.inShell, down };
  let block: FileRecord[] = [];
  const verified = new Map<string, Verification>();
  let printed = 0;
  let more = false;
  let last: string | undefined;
  const editing: Lease[] = [];
  const flush = async (): Promise<void> => {
    if (block.length === 0) return;
    await write(ctx, `${formatRecordRows(block, { ...format, verified }, printed === 0)}\n`);
    printed += block.length;
    block = [];
    verified.clear();
  };
  for await (const page of pages) {
    for (const record of page.records) {
      block.push(record);
      const v = page.verified.get(record.name);
      if (v) verified.set(record.name, v);
      const lease = leases.get(record.name);
      if (lease) editing.push(lease);
    }
    if (page.records.length > 0) last = page.records[page.records.length - 1]!.name;
    more = page.more;
    if (block.length >= TEXT_BLOCK_RECORDS) await flush();
  }
  await flush();
  if (printed === 0 && listing.after === undefined && !listing.prefix) {
    print(ctx, noFilesYet(format));
    return;
  }
  print(ctx, printed === 0 ? 'No file matches.' : filesCount(printed));
  if (more && last !== undefined) print(ctx, `More follow: ${nextPage(ctx, options, last)}`);
  // Edit leases (issue 14): who has a file open in `lanfs edit` right now.
  for (const lease of editing) print(ctx, `${lease.name} is ${editedBy(lease)}.`);
}

/**
 * The JSON array, written an element at a time exactly as JSON.stringify(array,
 * null, 2) would write it whole.
 */
async function showJson(
  ctx: CliContext,
  pages: AsyncIterable<VerifiedPage>,
  leases: Map<string, Lease>,
): Promise<void> {
  let first = true;
  for await (const page of pages) {
    let text = '';
    for (const r of page.records) {
      const element = { ...fileJson(r, leases.get(r.name)), verified: page.verified.get(r.name) };
      text += (first ? '[\n  ' : ',\n  ') + JSON.stringify(element, null, 2).replace(/\n/g, '\n  ');
      first = false;
    }
    if (text) await write(ctx, text);
  }
  await write(ctx, first ? '[]\n' : '\n]\n');
}

/**
 * `show --names`: one name a line (a JSON array of names with --json), nothing
 * else asked of the servers, for scripts going through many files.
 */
async function showNames(
  ctx: CliContext,
  client: LanfsClient,
  listing: ListOptions,
  json: boolean,
): Promise<void> {
  let first = true;
  for await (const names of client.listNames(listing)) {
    if (names.length === 0) continue;
    const text = json
      ? (first ? '[\n  ' : ',\n  ') + names.map((n) => JSON.stringify(n)).join(',\n  ')
      : `${names.join('\n')}\n`;
    first = false;
    await write(ctx, text);
  }
  if (json) await write(ctx, first ? '[]\n' : '\n]\n');
}

function listOptions(options: ShowOptions): ListOptions {
  const listing: ListOptions = {};
  if (options.limit !== undefined) {
    const limit = Number(options.limit);
    if (!/^\d+$/.test(options.limit) || !Number.isSafeInteger(limit) || limit < 1)
      throw new UsageError(`--limit takes a number of files (1 or more), not "${options.limit}".`);
    listing.limit = limit;
  }
  if (options.after !== undefined) listing.after = options.after;
  if (options.prefix) listing.prefix = options.prefix;
  return listing;
}

/** The command that shows the next page (the same limit and prefix, after the last name). */
function nextPage(ctx: CliContext, options: ShowOptions, last: string): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    `${ctx.inShell ? '' : 'lanfs '}show`,
    ...(options.limit ? [`--limit ${options.limit}`] : []),
    ...(options.prefix ? [`--prefix ${quote(options.prefix)}`] : []),
    `--after ${quote(last)}`,
    ...(options.json ? ['--json'] : []),
  ].join(' ');
}

/** Writes text, waiting for the terminal or pipe to take it before more is produced. */
async function write(ctx: CliContext, text: string): Promise<void> {
  if (!ctx.stdout.write(text) && typeof ctx.stdout.once === 'function')
    await once(ctx.stdout, 'drain');
}

interface VerifiedPage {
  records: FileRecord[];
  more: boolean;
  verified: Map<string, Verification>;
}

/**
 * Each page with what the servers' scrubs found of its files (issue 13), asked a
 * VERIFY_NAMES_PER_REQUEST names at a time. Up to VERIFY_PAGES_AT_ONCE pages are
 * asked about at once while the listing goes on, so the round trips overlap; the
 * pages still come out in order.
 */
async function* verifiedPages(
  client: LanfsClient,
  pages: AsyncIterable<{ records: FileRecord[]; more: boolean }>,
): AsyncGenerator<VerifiedPage> {
  const asked: Promise<VerifiedPage>[] = [];
  for await (const page of pages) {
    const verified = verifyPage(client, page);
    verified.catch(() => undefined); // awaited below, in order; not an unhandled rejection meanwhile
    asked.push(verified);
    if (asked.length >= VERIFY_PAGES_AT_ONCE) yield await asked.shift()!;
  }
  while (asked.length > 0) yield await asked.shift()!;
}

async function verifyPage(
  client: LanfsClient,
  page: { records: FileRecord[]; more: boolean },
): Promise<VerifiedPage> {
  const verified = new Map<string, Verification>();
  for (let i = 0; i < page.records.length; i += VERIFY_NAMES_PER_REQUEST) {
    const part = page.records.slice(i, i + VERIFY_NAMES_PER_REQUEST);
    const { files } = await client.scrub({ names: part.map((r) => r.name) });
    for (const record of part) verified.set(record.name, verificationOf(record, files));
  }
  return { records: page.records, more: page.more, verified };
}
