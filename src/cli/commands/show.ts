/** `lanfs show`: every file of every server (the single system image). */
import { print, type CliContext } from '../context.ts';
import { formatRecords, recordJson } from '../format.ts';

export async function show(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const records = await (await ctx.client()).list();
  if (options.json) print(ctx, JSON.stringify(records.map(recordJson), null, 2));
  else print(ctx, formatRecords(records));
}
