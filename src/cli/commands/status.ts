/**
 * `lanfs status`: every server with its address, up/down and file count, and
 * (issue 14) its bytes in files, versions and trash, free disk, and bursts of deletes;
 * (issue 16) its --capacity when it gave one (a CAPACITY column, `capacity` in --json).
 */
import { print, type CliContext } from '../context.ts';
import { statusJson } from '../../protocol/listing.ts';
import { formatStatus } from '../format.ts';

export async function status(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const client = await ctx.client();
  const result = await client.statusEverywhere();
  if (options.json) {
    print(ctx, JSON.stringify(statusJson(result), null, 2));
  } else {
    print(ctx, formatStatus(result, client.address));
  }
}
