/** `lanfs status`: every server with its address, up/down and file count. */
import { print, type CliContext } from '../context.ts';
import { formatStatus } from '../format.ts';

export async function status(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const client = await ctx.client();
  const result = await client.status();
  if (options.json) {
    print(
      ctx,
      JSON.stringify(
        {
          servers: result.servers,
          connectedTo: result.serverId,
          replicas: result.replicas,
          insecure: result.insecure,
          conflicts: result.conflicts,
          underReplicated: result.underReplicated,
        },
        null,
        2,
      ),
    );
  } else {
    print(ctx, formatStatus(result, client.address));
  }
}
