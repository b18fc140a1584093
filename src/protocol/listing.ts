/**
 * The JSON shapes users and scripts see (SPEC §3): one element of `show --json`
 * and `/api/files`, and the object of `status --json` and `/api/status`. One
 * place, so the command line and the HTTP side cannot drift apart.
 */
import type { BodyOf, FileRecord } from './messages.ts';

/** The JSON of `show --json` for one record. */
export function fileJson(record: FileRecord): Record<string, unknown> {
  return {
    name: record.name,
    size: record.size,
    version: record.version,
    sha256: record.sha256,
    primary: record.primary,
    replicas: record.replicas,
    available: record.available ?? true,
    modifiedAt: new Date(record.modifiedAt).toISOString(),
    ...(record.conflictOf ? { conflictOf: record.conflictOf } : {}),
  };
}

export function statusJson(status: BodyOf<'STATUS_RESULT'>): Record<string, unknown> {
  return {
    servers: status.servers,
    connectedTo: status.serverId,
    replicas: status.replicas,
    insecure: status.insecure,
    conflicts: status.conflicts,
    underReplicated: status.underReplicated,
  };
}
