/** `lanfs show`: every file of every server (the single system image). */
import { print, type CliContext } from '../context.ts';
import { fileJson } from '../../protocol/listing.ts';
import { formatRecords } from '../format.ts';

export async function show(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const records = await (await ctx.client()).list();
  if (options.json) print(ctx, JSON.stringify(records.map(fileJson), null, 2));
  else print(ctx, formatRecords(records));
}
