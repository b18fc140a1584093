/**
 * The exit codes of SPEC §3, and the one place a LanfsError becomes one.
 */
import type { ErrorCode } from '../shared/errors.ts';

export const ExitCode = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  EXISTS: 4,
  NO_SERVER: 5,
  EDIT_CONFLICT: 6,
  AUTH: 7,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  LANFS_ERR_USAGE: ExitCode.USAGE,
  LANFS_ERR_INVALID_NAME: ExitCode.USAGE,
  LANFS_ERR_INVALID_METADATA: ExitCode.USAGE,
  LANFS_ERR_CONFIG: ExitCode.USAGE,
  LANFS_ERR_DUPLICATE_ID: ExitCode.USAGE,
  LANFS_ERR_DATA_FOLDER_IN_USE: ExitCode.USAGE,
  LANFS_ERR_NOT_FOUND: ExitCode.NOT_FOUND,
  LANFS_ERR_NAME_EXISTS: ExitCode.EXISTS,
  LANFS_ERR_LOCAL_FILE_EXISTS: ExitCode.EXISTS,
  LANFS_ERR_NO_SERVER: ExitCode.NO_SERVER,
  LANFS_ERR_EDIT_CONFLICT: ExitCode.EDIT_CONFLICT,
  LANFS_ERR_AUTH_FAILED: ExitCode.AUTH,
  LANFS_ERR_AUTH_REQUIRED: ExitCode.AUTH,
};

export function exitCodeFor(code: ErrorCode): number {
  return BY_CODE[code] ?? ExitCode.ERROR;
}
