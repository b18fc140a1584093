/**
 * The conflict rule (docs/ARCHITECTURE.md "The conflict rule"): two records under
 * one name that are not versions of one file. Pure, so every server computes the
 * same winner from the same records, and each holder of the loser moves only its
 * own copy. The replicator acts on the outcome; nothing here touches files.
 */
import type { FileRecord } from '../protocol/messages.ts';

/** The name the loser of a conflict is kept under: derived from its bytes, the same on every server. */
export function conflictName(name: string, loser: FileRecord): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  const tag = `.conflict-${loser.sha256.slice(0, 8)}`;
  // A leading dot (".profile") is not an extension: the tag goes at the end.
  return dot > slash + 1 ? `${name.slice(0, dot)}${tag}${name.slice(dot)}` : `${name}${tag}`;
}

/**
 * Whether two records of one name are versions of one history: the same file, and
 * the older version is the one the newer was made from (found in its lineage). Two
 * versions of one file that are not (each side of a partition had an acting
 * primary and made its own next versions) are a conflict, whatever their numbers.
 * A record without a lineage (written before lineages) or an older version beyond
 * the lineage's reach (LINEAGE_VERSIONS) is taken to be an ancestor: the version
 * number decides, as it did before.
 */
export function sameHistory(a: FileRecord, b: FileRecord): boolean {
  if (a.fileId !== b.fileId) return false;
  if (a.version === b.version) return a.sha256 === b.sha256;
  const [older, newer] = a.version < b.version ? [a, b] : [b, a];
  const back = newer.version - older.version;
  const seen = (newer.lineage ?? '').slice((back - 1) * 8, back * 8);
  return seen.length < 8 || seen === older.sha256.slice(0, 8);
}

/**
 * Of two different records under one name, the one that keeps the name: another
 * lineage (fileId) loses to the file whose primary has the lower id (then the lower
 * fileId); two versions of one file from different histories (edited on both sides
 * of a partition) keep the higher version, and at equal versions the lower sha256.
 */
export function conflictWinner(a: FileRecord, b: FileRecord): FileRecord {
  if (a.fileId === b.fileId) {
    if (a.version !== b.version) return a.version > b.version ? a : b;
    return a.sha256 <= b.sha256 ? a : b;
  }
  if (a.primary !== b.primary) return a.primary < b.primary ? a : b;
  return a.fileId < b.fileId ? a : b;
}

/**
 * What the holder of `mine` does about a rival record under the same name:
 * - `keep`: mine wins; the rival's holder moves its copy;
 * - `drop`: another file with the same bytes wins: they are one file, so mine goes
 *   and the winner's copy takes its place (healing or catch-up brings it);
 * - `rename`: mine loses and is kept, bytes untouched, under its conflict name.
 */
export type ConflictOutcome = { kind: 'keep' } | { kind: 'drop' } | { kind: 'rename'; to: string };

export function conflictOutcome(mine: FileRecord, rival: FileRecord): ConflictOutcome {
  const winner = conflictWinner(mine, rival);
  if (winner === mine) return { kind: 'keep' };
  if (winner.sha256 === mine.sha256 && winner.fileId !== mine.fileId) return { kind: 'drop' };
  return { kind: 'rename', to: conflictName(mine.name, mine) };
}
