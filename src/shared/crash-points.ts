/**
 * Named crash points for fault tests (RELIABILITY.md A2): when the environment
 * variable LANFS_CRASH_POINT names a point, the process kills itself with SIGKILL
 * on reaching it, exactly as a power cut or kill -9 would stop it there.
 * LANFS_CRASH_SKIP=N lets the point pass N times first, so a test can crash a
 * server in the middle of a busy run rather than at its first request. Unset in
 * normal use, where each call costs one string comparison.
 */
export type CrashPoint =
  | 'create-after-temp-fsync'
  | 'create-after-link'
  | 'create-after-record'
  | 'edit-after-rename'
  | 'delete-after-unlink'
  | 'journal-before-append'
  | 'journal-after-append'
  | 'journal-after-fsync'
  | 'checkpoint-after-flush'
  | 'checkpoint-after-snapshot';

const armed = process.env.LANFS_CRASH_POINT;
let skip = Number(process.env.LANFS_CRASH_SKIP ?? 0);

export function crashPoint(point: CrashPoint): void {
  if (armed === point && skip-- <= 0) process.kill(process.pid, 'SIGKILL');
}
