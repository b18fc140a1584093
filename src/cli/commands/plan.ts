/**
 * `lanfs plan --without ID`: what losing server ID for good would do. The files
 * it holds that would drop below their number of copies, where healing would
 * make the missing copies (the placement rule of cluster/placement.ts, applied
 * file after file to the counts as they grow, as the servers' healing does), how
 * many bytes that moves, and how long at the copy rate the cluster measured
 * lately. Files whose only live copy is on ID are named as lost. Nothing is
 * changed: this only reads the listing and the status.
 */
import { choosePlacement } from '../../cluster/placement.ts';
import type { BodyOf, FileRecord } from '../../protocol/messages.ts';
import { UsageError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { formatBytes, formatDuration, table } from '../format.ts';

export interface PlannedFile {
  name: string;
  size: number;
  /** Live holders left without the server. */
  left: number[];
  /** Where healing would make the missing copies (fewer than missing: not enough servers). */
  copiesTo: number[];
  /** No live copy left: only the lost server held it. */
  lost: boolean;
}

export interface PlanReport {
  without: number;
  copiesWanted: number;
  files: PlannedFile[];
  bytesToMove: number;
  /** Bytes per second copies moved at lately, or null when none was measured. */
  rateBytesPerSecond: number | null;
  /** When healing would start after the server goes (--heal-after). */
  healAfterMs: number | null;
  /** Seconds the copying would take at that rate; null when the rate is unknown. */
  seconds: number | null;
}

export async function plan(
  ctx: CliContext,
  options: { without?: string; json?: boolean },
): Promise<void> {
  const without = Number(options.without);
  if (!Number.isInteger(without) || without <= 0)
    throw new UsageError('Give the server to plan without as --without ID, e.g. --without 2.');
  const client = await ctx.client();
  const [records, status] = [await client.list(), await client.status()];
  if (!status.servers.some((s) => s.id === without))
    throw new UsageError(
      `Server ${without} is not in the cluster; "lanfs status" lists the servers.`,
    );
  const report = planWithout(without, records, status);
  if (options.json) print(ctx, JSON.stringify(report, null, 2));
  else print(ctx, formatPlan(report));
}

export function planWithout(
  without: number,
  records: FileRecord[],
  status: BodyOf<'STATUS_RESULT'> & { copyBytesPerSecond?: number },
): PlanReport {
  const live = status.servers.filter((s) => s.up && s.id !== without);
  const liveIds = new Set(live.map((s) => s.id));
  const counts = new Map(live.map((s) => [s.id, s.files]));
  const wanted = Math.min(status.replicas, live.length);
  const files: PlannedFile[] = [];
  for (const record of records) {
    const holders = [record.primary, ...record.replicas.filter((id) => id !== record.primary)];
    if (!holders.includes(without)) continue;
    const left = holders.filter((id) => id !== without && liveIds.has(id));
    if (left.length >= wanted && left.length > 0) continue;
    const candidates = live
      .filter((s) => !holders.includes(s.id))
      .map((s) => ({ id: s.id, files: counts.get(s.id) ?? 0 }));
    const copiesTo = left.length === 0 ? [] : choosePlacement(candidates, wanted - left.length);
    for (const id of copiesTo) counts.set(id, (counts.get(id) ?? 0) + 1);
    files.push({ name: record.name, size: record.size, left, copiesTo, lost: left.length === 0 });
  }
  const bytesToMove = files.reduce((sum, f) => sum + f.size * f.copiesTo.length, 0);
  const rate = status.copyBytesPerSecond ?? null;
  return {
    without,
    copiesWanted: status.replicas,
    files,
    bytesToMove,
    rateBytesPerSecond: rate,
    healAfterMs: status.healAfterMs ?? null,
    seconds: rate && rate > 0 ? Math.ceil(bytesToMove / rate) : bytesToMove === 0 ? 0 : null,
  };
}

function formatPlan(r: PlanReport): string {
  const lines: string[] = [];
  if (r.files.length === 0) {
    lines.push(
      `Without server ${r.without}, every file keeps its ${r.copiesWanted} copies (or as many as there are live servers): nothing to heal.`,
    );
    return lines.join('\n');
  }
  const lost = r.files.filter((f) => f.lost);
  const healed = r.files.filter((f) => !f.lost);
  lines.push(
    `Without server ${r.without}, ${r.files.length} file${r.files.length === 1 ? '' : 's'} would drop below ${r.copiesWanted} copies:`,
  );
  const rows = [['FILE', 'SIZE', 'LEFT ON', 'HEALING COPIES TO']];
  for (const f of r.files)
    rows.push([
      f.name,
      formatBytes(f.size),
      f.left.length > 0 ? f.left.join(', ') : '-',
      f.lost
        ? 'lost: no other copy'
        : f.copiesTo.length > 0
          ? f.copiesTo.join(', ')
          : 'nowhere (no other live server)',
    ]);
  lines.push(table(rows));
  const when =
    r.healAfterMs === null
      ? ''
      : ` starting ${formatDuration(r.healAfterMs)} after it goes (--heal-after)`;
  const time =
    r.seconds === null
      ? 'time unknown (no copy measured lately)'
      : `about ${formatDuration(r.seconds * 1000)} at ${formatBytes(r.rateBytesPerSecond ?? 0)}/s measured lately`;
  if (healed.length > 0)
    lines.push(`Healing would copy ${formatBytes(r.bytesToMove)}${when}: ${time}.`);
  if (lost.length > 0)
    lines.push(
      `${lost.length} file${lost.length === 1 ? ' has' : 's have'} no copy but on server ${r.without}: bring it back, or restore ${lost.length === 1 ? 'it' : 'them'} from a backup.`,
    );
  return lines.join('\n');
}
