/**
 * Named crash points for fault tests (RELIABILITY.md A2): when the environment
 * variable LANFS_CRASH_POINT names a point, the process kills itself with SIGKILL
 * on reaching it, exactly as a power cut or kill -9 would stop it there. Unset in
 * normal use, where each call costs one string comparison.
 */
export type CrashPoint =
  | 'create-after-temp-fsync'
  | 'create-after-link'
  | 'create-after-record'
  | 'edit-after-rename'
  | 'delete-after-unlink';

const armed = process.env.LANFS_CRASH_POINT;

export function crashPoint(point: CrashPoint): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}
