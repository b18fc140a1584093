/**
 * What the scrub says of one file across its copies (issue 13): the `verified`
 * field of `show --json` and /api/files, and its sentence in `show` and on the
 * dashboard. Pure: the records and what each server's scrubber found go in.
 */
import type { FileRecord, ScrubFile } from './messages.ts';

export interface Verification {
  /** Servers that hold the file (primary and copies). */
  copies: number;
  /** Of them, those whose scrub found this version's bytes intact. */
  verifiedCopies: number;
  /** When the oldest of those checks ran (ms since the epoch); null if none did. */
  at: number | null;
  /** Servers whose copy of this version was found damaged and is not repaired. */
  bad: number[];
}

/** Names asked per SCRUB request (the schema's bound). */
export const VERIFY_NAMES_PER_REQUEST = 1000;

export function verificationOf(record: FileRecord, found: readonly ScrubFile[]): Verification {
  const holders = [...new Set([record.primary, ...record.replicas])];
  const current = found.filter(
    (f) =>
      f.name === record.name &&
      f.version === record.version &&
      f.sha256 === record.sha256 &&
      holders.includes(f.serverId),
  );
  const ok = current.filter((f) => f.ok);
  const bad = current
    .filter((f) => !f.ok)
    .map((f) => f.serverId)
    .sort((a, b) => a - b);
  return {
    copies: holders.length,
    verifiedCopies: new Set(ok.map((f) => f.serverId)).size,
    at: ok.length === 0 ? null : Math.min(...ok.map((f) => f.at)),
    bad,
  };
}

/** "verified on 2/2 copies, 3 h ago", "copy on server 2 is damaged", "not verified yet". */
export function describeVerification(v: Verification, now = Date.now()): string {
  if (v.bad.length > 0)
    return `damaged copy on server${v.bad.length === 1 ? '' : 's'} ${v.bad.join(', ')} (${v.verifiedCopies}/${v.copies} verified)`;
  if (v.at === null) return 'not verified yet';
  return `verified on ${v.verifiedCopies}/${v.copies} copies, ${ago(now - v.at)}`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s < 5 ? 'just now' : `${s} s ago`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min ago`;
  const h = Math.round(min / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}
