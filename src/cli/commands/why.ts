/**
 * `lanfs why NAME`: where a file is and why. The placement rule (SPEC §2.5)
 * applied again to the file counts the creating server saw (kept in the record
 * as placedAmong), the holders now and whether each is up, the acting primary
 * (the server that takes edits and deletes), and who takes over when it goes.
 * Everything is computed here from the listing and the status, with the same
 * rules the servers use.
 */
import {
  CAPACITY_PLACEMENT_RULE,
  choosePlacement,
  PLACEMENT_RULE,
  usedShare,
  weighsCapacity,
  type PlacementCandidate,
} from '../../cluster/placement.ts';
import type { BodyOf, FileRecord } from '../../protocol/messages.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { formatBytes } from '../format.ts';

export interface WhyReport {
  name: string;
  version: number;
  size: number;
  primary: number;
  copiesWanted: number;
  rule: string;
  /**
   * What the creating server chose from (files held, and bytes and --capacity where
   * the servers had one); null for files created before it was recorded.
   */
  atCreate: { candidates: PlacementCandidate[]; chose: number[] } | null;
  holders: { id: number; up: boolean; role: 'primary' | 'copy' }[];
  actingPrimary: number | null;
  /** Who takes edits and deletes when the acting primary goes, in order. */
  next: number[];
}

export { PLACEMENT_RULE };

export async function why(
  ctx: CliContext,
  name: string,
  options: { json?: boolean },
): Promise<void> {
  const client = await ctx.client();
  const records = await client.list();
  const record = records.find((r) => r.name === name);
  if (!record) throw new NotFoundError(name);
  const report = explain(record, await client.status());
  if (options.json) print(ctx, JSON.stringify(report, null, 2));
  else print(ctx, formatWhy(report));
}

/** The acting primary's rule (cluster-view.ts): the primary if up, else the lowest live holder. */
export function actingOrder(
  primary: number,
  holders: number[],
  up: (id: number) => boolean,
): number[] {
  const live = holders.filter(up);
  const rest = live.filter((id) => id !== primary).sort((a, b) => a - b);
  return live.includes(primary) ? [primary, ...rest] : rest;
}

export function explain(record: FileRecord, status: BodyOf<'STATUS_RESULT'>): WhyReport {
  const upIds = new Set(status.servers.filter((s) => s.up).map((s) => s.id));
  const up = (id: number): boolean => upIds.has(id);
  const holderIds = [record.primary, ...record.replicas.filter((id) => id !== record.primary)];
  const order = actingOrder(record.primary, holderIds, up);
  const candidates = record.placedAmong?.filter((c) => c.id !== record.primary) ?? null;
  return {
    name: record.name,
    version: record.version,
    size: record.size,
    primary: record.primary,
    copiesWanted: status.replicas,
    rule: candidates && weighsCapacity(candidates) ? CAPACITY_PLACEMENT_RULE : PLACEMENT_RULE,
    atCreate: candidates
      ? { candidates, chose: choosePlacement(candidates, status.replicas - 1) }
      : null,
    holders: holderIds.map((id) => ({
      id,
      up: up(id),
      role: id === record.primary ? 'primary' : 'copy',
    })),
    actingPrimary: order[0] ?? null,
    next: order.slice(1),
  };
}

function formatWhy(r: WhyReport): string {
  const lines = [`${r.name}: version ${r.version}, ${formatBytes(r.size)}.`];
  lines.push(
    `Primary: server ${r.primary} (where it was created, the client's server then; while that one is down, the server acting for it); ${r.copiesWanted} copies wanted in all (--replicas).`,
  );
  lines.push(`The placement rule: ${r.rule}.`);
  if (r.atCreate === null) {
    lines.push('The file counts at its creation were not recorded (made by an older lanfs).');
  } else if (r.atCreate.candidates.length === 0) {
    lines.push('At its creation no other server was up: it got no copy then.');
  } else {
    const byShare = weighsCapacity(r.atCreate.candidates);
    const held = (c: PlacementCandidate): string =>
      `server ${c.id} held ${c.files} file${c.files === 1 ? '' : 's'}` +
      (byShare
        ? ` (${formatBytes(c.bytes ?? 0)} of ${formatBytes(c.capacity ?? 0)}, ${Math.round(usedShare(c) * 100)}%)`
        : '');
    // In the order the rule ranked them (the chosen first).
    const order = choosePlacement(r.atCreate.candidates, r.atCreate.candidates.length);
    const counts = order
      .map((id) => held(r.atCreate!.candidates.find((c) => c.id === id)!))
      .join(', ');
    const chose = r.atCreate.chose.map((id) => `server ${id}`).join(' and ');
    lines.push(`At its creation: ${counts}; so the copies went to ${chose || 'no server'}.`);
  }
  const copies = r.holders.filter((h) => h.role === 'copy').map((h) => h.id);
  if (r.atCreate && copies.join(',') !== [...r.atCreate.chose].sort((a, b) => a - b).join(','))
    lines.push(
      `Held now by other servers than chosen then: healing (a holder down past --heal-after) or a copy that failed moved them.`,
    );
  lines.push(
    `Holders now: ${r.holders.map((h) => `server ${h.id} (${h.role}, ${h.up ? 'up' : 'down'})`).join(', ')}.`,
  );
  lines.push(
    r.actingPrimary === null
      ? 'Acting primary: none, every holder is down; the file cannot be read, edited or deleted until one is back.'
      : `Acting primary: server ${r.actingPrimary} (takes edits and deletes).`,
  );
  lines.push(
    r.next.length > 0
      ? `If it goes: server ${r.next.join(', then server ')} takes over.`
      : 'If it goes: no other live holder; the file is unavailable until a holder is back.',
  );
  return lines.join('\n');
}
