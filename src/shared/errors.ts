/**
 * The one catalogue of lanfs errors. Every error a user or a peer can see is a
 * LanfsError with a stable `code`; callers match on the code, and only the CLI
 * and the web layer turn codes into exit codes and HTTP statuses. Messages are
 * one plain sentence that says what to do next. docs/ERRORS.md lists every code
 * (a test keeps the two in step); retired codes are never reused.
 */

export const ERROR_CODES = [
  'LANFS_ERR_USAGE',
  'LANFS_ERR_INVALID_NAME',
  'LANFS_ERR_NOT_FOUND',
  'LANFS_ERR_NAME_EXISTS',
  'LANFS_ERR_NO_SERVER',
  'LANFS_ERR_EDIT_CONFLICT',
  'LANFS_ERR_AUTH_FAILED',
  'LANFS_ERR_AUTH_REQUIRED',
  'LANFS_ERR_PROTOCOL',
  'LANFS_ERR_FRAME_TOO_LARGE',
  'LANFS_ERR_UNSUPPORTED_VERSION',
  'LANFS_ERR_CHECKSUM_MISMATCH',
  'LANFS_ERR_CONNECTION_CLOSED',
  'LANFS_ERR_TIMEOUT',
  'LANFS_ERR_STORAGE',
  'LANFS_ERR_DISK_FULL',
  'LANFS_ERR_CONFIG',
  'LANFS_ERR_LOCAL_FILE_EXISTS',
  'LANFS_ERR_UNAVAILABLE',
  'LANFS_ERR_DUPLICATE_ID',
  'LANFS_ERR_TOO_LARGE',
  'LANFS_ERR_DATA_FOLDER_IN_USE',
  'LANFS_ERR_INVALID_METADATA',
  'LANFS_ERR_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class LanfsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad command-line usage or a bad option value. */
export class UsageError extends LanfsError {
  constructor(message: string, options?: ErrorOptions) {
    super('LANFS_ERR_USAGE', message, options);
  }
}

/** A file name that breaks the rules of SPEC §4; refused before any byte is written. */
export class InvalidNameError extends LanfsError {
  constructor(message: string) {
    super('LANFS_ERR_INVALID_NAME', message);
  }
}

export class NotFoundError extends LanfsError {
  constructor(name: string) {
    super(
      'LANFS_ERR_NOT_FOUND',
      `No file named "${name}" exists; run "lanfs show" to list the files.`,
    );
  }
}

/** A version of a file that is not (or no longer) kept: the file itself exists. */
export class VersionNotKeptError extends LanfsError {
  constructor(name: string, version: number) {
    super(
      'LANFS_ERR_NOT_FOUND',
      `Version ${version} of "${name}" is not kept; run "lanfs history ${name}" to list the versions there are.`,
    );
  }
}

/** Nothing of that name is in the trash (never deleted, purged, or pruned). */
export class NotInTrashError extends LanfsError {
  constructor(name: string) {
    super(
      'LANFS_ERR_NOT_FOUND',
      `Nothing named "${name}" is in the trash; run "lanfs trash" to list what can be brought back.`,
    );
  }
}

export class NameExistsError extends LanfsError {
  constructor(name: string, detail = 'already exists') {
    super('LANFS_ERR_NAME_EXISTS', `"${name}" ${detail}; choose another name.`);
  }
}

/** The file exists, but every server holding it is down. */
export class UnavailableError extends LanfsError {
  constructor(name: string, holders: number[]) {
    const who =
      holders.length === 1
        ? `server ${holders[0]}, which is`
        : `servers ${holders.join(', ')}, which are`;
    super(
      'LANFS_ERR_UNAVAILABLE',
      `"${name}" is held by ${who} down; try again when one is back ("lanfs status" shows them).`,
    );
  }
}

export class NoServerError extends LanfsError {
  constructor(message: string, options?: ErrorOptions) {
    super('LANFS_ERR_NO_SERVER', message, options);
  }
}

export class EditConflictError extends LanfsError {
  readonly currentVersion: number;
  constructor(name: string, baseVersion: number, currentVersion: number) {
    super(
      'LANFS_ERR_EDIT_CONFLICT',
      `"${name}" changed while you edited it (you started from version ${baseVersion}, it is now version ${currentVersion}).`,
    );
    this.currentVersion = currentVersion;
  }
}

export class AuthError extends LanfsError {
  constructor(code: 'LANFS_ERR_AUTH_FAILED' | 'LANFS_ERR_AUTH_REQUIRED', message: string) {
    super(code, message);
  }
}

/** The other end broke the protocol: a malformed, unexpected or unknown message. */
export class ProtocolError extends LanfsError {
  constructor(
    message: string,
    code:
      | 'LANFS_ERR_PROTOCOL'
      | 'LANFS_ERR_FRAME_TOO_LARGE'
      | 'LANFS_ERR_UNSUPPORTED_VERSION' = 'LANFS_ERR_PROTOCOL',
  ) {
    super(code, message);
  }
}

export class ChecksumMismatchError extends LanfsError {
  constructor(message: string) {
    super('LANFS_ERR_CHECKSUM_MISMATCH', message);
  }
}

export class ConnectionClosedError extends LanfsError {
  constructor(
    message = 'The connection to the server closed unexpectedly.',
    options?: ErrorOptions,
  ) {
    super('LANFS_ERR_CONNECTION_CLOSED', message, options);
  }
}

export class TimeoutError extends LanfsError {
  constructor(message: string) {
    super('LANFS_ERR_TIMEOUT', message);
  }
}

export class StorageError extends LanfsError {
  constructor(
    message: string,
    options?: ErrorOptions,
    code: 'LANFS_ERR_STORAGE' | 'LANFS_ERR_DISK_FULL' = 'LANFS_ERR_STORAGE',
  ) {
    super(code, message, options);
  }
}

export class ConfigError extends LanfsError {
  constructor(message: string) {
    super('LANFS_ERR_CONFIG', message);
  }
}

export class LocalFileExistsError extends LanfsError {
  constructor(path: string) {
    super(
      'LANFS_ERR_LOCAL_FILE_EXISTS',
      `${path} already exists; pass --force to overwrite it or -o to choose another path.`,
    );
  }
}

/** Another live lanfs process uses this data folder (its lock file names it). */
export class DataFolderInUseError extends LanfsError {
  readonly pid: number | undefined;
  readonly address: string | undefined;
  constructor(folder: string, pid?: number, address?: string) {
    const who =
      pid === undefined
        ? 'another lanfs process'
        : `lanfs process ${pid}${address ? ` (serving at ${address})` : ''}`;
    super(
      'LANFS_ERR_DATA_FOLDER_IN_USE',
      `${folder} is in use by ${who}; stop that one first, or use another --data folder.`,
    );
    this.pid = pid;
    this.address = address;
  }
}

/** A media type or metadata a writer gave with a version breaks the limits; nothing written. */
export class InvalidMetadataError extends LanfsError {
  constructor(reason: string) {
    super(
      'LANFS_ERR_INVALID_METADATA',
      `The metadata given with the file is not accepted: ${reason}; send less (at most 2 KiB in all).`,
    );
  }
}

/** Rebuild an error that crossed the wire, so the caller sees the same class and code. */
export function errorFromWire(code: string, message: string): LanfsError {
  const known = (ERROR_CODES as readonly string[]).includes(code)
    ? (code as ErrorCode)
    : 'LANFS_ERR_INTERNAL';
  return new LanfsError(known, message);
}

/** What goes back to the other end for an error thrown while serving it. */
export function errorToWire(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof LanfsError) return { code: err.code, message: err.message };
  return {
    code: 'LANFS_ERR_INTERNAL',
    message: 'The server hit an internal error; its log has the details.',
  };
}
