/**
 * Where copies go (SPEC §2.5, the classic rule): to the live servers, other than
 * the primary and those already holding the file, that hold the fewest files
 * (primaries and copies alike); ties go to the lower server id. Pure, so every
 * server computes the same answer from the same counts.
 */
export interface PlacementCandidate {
  id: number;
  /** Files the server holds now. */
  files: number;
}

/** The `count` servers to receive a copy, best first. */
export function choosePlacement(candidates: PlacementCandidate[], count: number): number[] {
  if (count <= 0) return [];
  return [...candidates]
    .sort((a, b) => a.files - b.files || a.id - b.id)
    .slice(0, count)
    .map((c) => c.id);
}
