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
 * Of two different records under one name, the one that keeps the name: another
 * lineage (fileId) loses to the file whose primary has the lower id (then the lower
 * fileId); two versions of one file with different bytes (edited on both sides of
 * a partition) keep the newer, and at equal versions the lower sha256.
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
