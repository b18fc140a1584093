/** `lanfs show`: every file of every server (the single system image). */
import { print, type CliContext } from '../context.ts';
import { fileJson } from '../../protocol/listing.ts';
import { formatRecords } from '../format.ts';

export async function show(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const client = await ctx.client();
  const records = await client.list();
  if (options.json) {
    print(ctx, JSON.stringify(records.map(fileJson), null, 2));
    return;
  }
  // Which holders are down, so a copy on a stopped server does not look like a live one.
  const status = records.length > 0 ? await client.status() : undefined;
  const down = new Set(status?.servers.filter((s) => !s.up).map((s) => s.id));
  print(ctx, formatRecords(records, { inShell: ctx.inShell, down }));
}
