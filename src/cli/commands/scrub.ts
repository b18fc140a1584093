/**
 * `lanfs scrub [--now]`: what every live server's scrub (the background re-hash of
 * the copies it holds, issue 13) did in its last pass and what it could not
 * repair; with --now, a pass starts on every server and the command waits for
 * them all to finish before reporting.
 */
import { note, print, type CliContext } from '../context.ts';
import type { BodyOf, ScrubServer } from '../../protocol/messages.ts';
import { formatBytes, formatDuration, table } from '../format.ts';

/** How often --now asks whether the passes are done. */
const POLL_MS = 500;

export async function scrub(
  ctx: CliContext,
  options: { now?: boolean; json?: boolean },
): Promise<void> {
  const client = await ctx.client();
  let report = await client.scrub({ start: options.now === true });
  if (options.now) {
    let told = 0;
    // A pass reads at --scrub-rate: it takes as long as the data needs, so no deadline here
    // (Ctrl-C stops waiting, not the passes).
    while (report.servers.some((s) => s.running)) {
      if (!options.json && Date.now() - told > 10_000) {
        const bytes = report.servers.reduce((sum, s) => sum + (s.pass?.bytes ?? 0), 0);
        note(ctx, `Scrubbing: ${formatBytes(bytes)} checked so far…`);
        told = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      report = await client.scrub();
    }
  }
  if (options.json) {
    print(ctx, JSON.stringify(scrubJson(report), null, 2));
    return;
  }
  print(ctx, formatScrub(report.servers));
}

export function scrubJson(report: BodyOf<'SCRUB_RESULT'>): Record<string, unknown> {
  const sum = (pick: (s: ScrubServer) => number): number =>
    report.servers.reduce((total, s) => total + pick(s), 0);
  return {
    servers: report.servers,
    files: sum((s) => s.pass?.files ?? 0),
    bytes: sum((s) => s.pass?.bytes ?? 0),
    bad: sum((s) => s.pass?.bad ?? 0),
    repaired: sum((s) => s.pass?.repaired ?? 0),
    unrepaired: report.servers.flatMap((s) =>
      s.unrepaired.map((name) => ({ serverId: s.serverId, name })),
    ),
  };
}

function formatScrub(servers: ScrubServer[]): string {
  const rows = [['SERVER', 'LAST PASS', 'FILES', 'CHECKED', 'BAD', 'REPAIRED']];
  for (const s of servers) {
    const p = s.pass;
    const when = !p
      ? s.rateMBps > 0
        ? 'none yet'
        : 'none (scrub off)'
      : p.endedAt === null
        ? 'running'
        : `${new Date(p.endedAt).toLocaleString()} (${formatDuration(p.endedAt - p.startedAt)})`;
    rows.push([
      `server ${s.serverId}`,
      when,
      String(p?.files ?? 0),
      formatBytes(p?.bytes ?? 0),
      String(p?.bad ?? 0),
      String(p?.repaired ?? 0),
    ]);
  }
  const lines = [table(rows)];
  for (const s of servers)
    for (const name of s.unrepaired)
      lines.push(
        `Damaged and not repaired on server ${s.serverId}: ${name} (no good copy on any live server; the damaged copy is kept — restore it from a backup).`,
      );
  return lines.join('\n');
}
