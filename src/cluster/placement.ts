/**
 * Where copies go (SPEC §2.5): to the live servers, other than the primary and
 * those already holding the file, ranked by one of two rules. Pure, so every
 * server computes the same answer from the same inputs.
 *
 * - Equal disks (the classic rule, and whenever a candidate's capacity is not
 *   known): the fewest files first (primaries and copies alike); ties go to the
 *   lower server id.
 * - Unequal disks (every candidate has a capacity, `lanfs server --capacity`): the
 *   smallest share of its capacity in use first (bytes held / capacity), so a disk
 *   twice as large takes about twice the bytes and all fill at the same pace; ties
 *   by the fewest files, then the lower id. A server whose bytes reach its capacity
 *   still ranks (last): copies are wanted, and its disk may have room left.
 */
export interface PlacementCandidate {
  id: number;
  /** Files the server holds now. */
  files: number;
  /** Bytes in the files it holds now (with capacity: the unequal-disks rule). */
  bytes?: number;
  /** The bytes it offers (--capacity); absent: unknown, the classic rule for all. */
  capacity?: number;
}

/** The rule in one sentence, as `lanfs why` says it. */
export const PLACEMENT_RULE =
  'copies go to the live servers other than the primary and those already holding the file that hold the fewest files; ties go to the lower server id';
export const CAPACITY_PLACEMENT_RULE =
  'copies go to the live servers other than the primary and those already holding the file that use the smallest share of their capacity (bytes held / --capacity); ties go to the fewest files, then the lower server id';

/** Whether the unequal-disks rule applies: every candidate's capacity and bytes are known. */
export function weighsCapacity(candidates: readonly PlacementCandidate[]): boolean {
  return (
    candidates.length > 0 &&
    candidates.every((c) => c.capacity !== undefined && c.capacity > 0 && c.bytes !== undefined)
  );
}

/** The share of its capacity a candidate uses (only when weighsCapacity). */
export function usedShare(candidate: PlacementCandidate): number {
  return (candidate.bytes ?? 0) / (candidate.capacity ?? 1);
}

/** The `count` servers to receive a copy, best first. */
export function choosePlacement(candidates: PlacementCandidate[], count: number): number[] {
  if (count <= 0) return [];
  const byShare = weighsCapacity(candidates);
  return [...candidates]
    .sort((a, b) => (byShare ? usedShare(a) - usedShare(b) : 0) || a.files - b.files || a.id - b.id)
    .slice(0, count)
    .map((c) => c.id);
}
