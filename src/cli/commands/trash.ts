/**
 * `lanfs trash [--json]` and `lanfs undelete NAME [--as NEW] | --since TIME [--from HOST]`:
 * what deletes put in the trash of every live server, and bringing it back. An
 * undelete is a new version of the same file (a new file with --as), so no
 * tombstone buries it again and no stale copy comes back with it.
 */
import type { KeptEntryWire } from '../../protocol/messages.ts';
import { NotInTrashError, UsageError } from '../../shared/errors.ts';
import { validateName } from '../../protocol/file-name.ts';
import { print, type CliContext } from '../context.ts';
import { formatBytes, table } from '../format.ts';
import { trashJson } from '../../protocol/listing.ts';

export async function trash(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const items = await (await ctx.client()).trash();
  if (options.json) {
    print(ctx, JSON.stringify(items.map(trashJson), null, 2));
    return;
  }
  if (items.length === 0) {
    print(ctx, 'The trash is empty.');
    return;
  }
  print(
    ctx,
    table([
      ['NAME', 'SIZE', 'DELETED', 'BY', 'ON'],
      ...items.map((i) => [
        i.record.name,
        formatBytes(i.record.size),
        new Date(i.keptAt).toLocaleString(),
        i.deletedBy ?? '-',
        i.servers.join(','),
      ]),
    ]),
  );
}

/** `--since` as an ISO time, or a duration back from now (like 10m, 2h, 1d). */
export function parseSince(text: string, now = Date.now()): number {
  const back = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (back)
    return (
      now -
      Number(back[1]) *
        { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[back[2] as 's' | 'm' | 'h' | 'd']
    );
  const at = Date.parse(text);
  if (Number.isNaN(at))
    throw new UsageError(
      `--since ${JSON.stringify(text)} is neither a time (2024-05-01T10:42) nor a duration back from now (like 10m, 2h).`,
    );
  return at;
}

export async function undelete(
  ctx: CliContext,
  rawName: string | undefined,
  options: { as?: string; since?: string; from?: string },
): Promise<void> {
  const client = await ctx.client();
  const items = await client.trash();
  if (options.since !== undefined) {
    if (rawName !== undefined || options.as !== undefined)
      throw new UsageError('Give either a NAME (and --as) or --since, not both.');
    const since = parseSince(options.since);
    // The newest delete of each name since then (an older one of the same name would clash).
    const newest = new Map<string, KeptEntryWire & { servers: number[] }>();
    for (const item of items)
      if (item.keptAt >= since && (options.from === undefined || item.deletedBy === options.from))
        if (!newest.has(item.record.name)) newest.set(item.record.name, item);
    let restored = 0;
    const failed: string[] = [];
    for (const item of newest.values()) {
      try {
        await client.undelete(item);
        restored++;
      } catch (err) {
        failed.push(`${item.record.name} (${(err as Error).message})`);
      }
    }
    print(ctx, `Brought back ${restored} file${restored === 1 ? '' : 's'}.`);
    if (failed.length > 0) {
      throw new UsageError(`Could not bring back ${failed.length}: ${failed.join('; ')}`);
    }
    return;
  }
  if (rawName === undefined)
    throw new UsageError('Say which file to bring back, or give --since TIME.');
  const name = validateName(rawName);
  const item = items.find((i) => i.record.name === name);
  if (!item) throw new NotInTrashError(name);
  const record = await client.undelete(
    item,
    options.as === undefined ? undefined : validateName(options.as),
  );
  print(ctx, `Brought back ${record.name} (version ${record.version}).`);
}
