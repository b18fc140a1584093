/**
 * `lanfs watch [--json]`: prints every event of the cluster as it happens, one
 * line each (with --json, one JSON object per line, as /api/events sends them),
 * until Ctrl-C, which ends it with exit 0. If the server dies the client moves to
 * another live one, says so on stderr and goes on (events in between are missed);
 * with no server left it ends with the no-server exit code.
 */
import type { LanfsEvent } from '../../protocol/messages.ts';
import { note, print, type CliContext } from '../context.ts';

export async function watch(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const client = await ctx.client();
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await client.watch((event) => {
      if (event.type === 'watching') {
        // On stderr: stdout stays one event per line for scripts.
        note(ctx, `Watching the cluster through server ${event.serverId} (Ctrl-C to stop).`);
        return;
      }
      print(ctx, options.json ? JSON.stringify(event) : formatEvent(event));
    }, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `10:42:03  created  notes/todo.txt  v1 on 2 (server 1)`: the record's primary in brackets. */
export function formatEvent(event: LanfsEvent): string {
  const time = new Date(event.at).toTimeString().slice(0, 8);
  const columns = ((): string[] => {
    switch (event.type) {
      case 'record-changed': {
        const r = event.record;
        if (!r) return [event.change, event.name];
        const copies = 1 + r.replicas.length;
        return [event.change, event.name, `v${r.version} on ${copies} (server ${r.primary})`];
      }
      case 'member-up':
        return ['up', `server ${event.memberId}`, event.address];
      case 'member-down':
        return ['down', `server ${event.memberId}`, event.address];
      case 'conflict':
        return ['conflict', event.name, `lost the name ${event.conflictOf}`];
      case 'copy-missing':
        return [
          'missing',
          event.name,
          `${event.holders.length} of ${event.wanted} copies live (${event.holders.map((id) => `server ${id}`).join(', ') || 'none'})`,
        ];
      case 'copy-made':
        return ['copied', event.name, `to server ${event.on}`];
      case 'transfer-started':
      case 'transfer-finished': {
        const verb = event.type === 'transfer-started' ? 'sending' : 'sent';
        const bytes = event.bytes === undefined ? '' : ` ${event.bytes} B`;
        return [
          event.direction === 'in' ? `${verb} in` : `${verb} out`,
          event.name,
          `via ${event.via}${bytes}`,
        ];
      }
      case 'restored':
        return [
          'restored',
          event.name,
          `version ${event.from} as v${event.version}${by(event.host)}`,
        ];
      case 'trashed':
        return ['trashed', event.name, `v${event.version} to the trash${by(event.host)}`];
      case 'purged':
        return ['purged', event.name, `v${event.version}, skipping the trash${by(event.host)}`];
      case 'undeleted':
        return [
          'undeleted',
          event.name,
          `v${event.version}${event.was ? ` (deleted as ${event.was})` : ''}`,
        ];
      case 'lease-taken':
        return ['editing', event.name, `on ${event.host}`];
      case 'lease-released':
        return ['edited', event.name, `on ${event.host} (editor closed)`];
      case 'lease-expired':
        return ['lease expired', event.name, `on ${event.host} (the editor stopped renewing it)`];
      case 'delete-burst':
        return [
          'delete burst',
          `${event.deletes} deletes from ${event.host} (none purges)`,
          `undo: ${event.undo}`,
        ];
      case 'lagged':
        return ['lagged', `${event.dropped} events skipped (this watch read too slowly)`];
      case 'watching':
        return ['watching', `server ${event.serverId}`];
    }
  })();
  return [time, ...columns].join('  ');
}

function by(host: string | undefined): string {
  return host ? ` by ${host}` : '';
}
