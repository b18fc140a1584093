/**
 * The JSON shapes users and scripts see (SPEC §3): one element of `show --json`
 * and `/api/files`, and the object of `status --json` and `/api/status`. One
 * place, so the command line and the HTTP side cannot drift apart.
 */
import type { BodyOf, FileRecord, KeptEntryWire, Lease } from './messages.ts';

/** The JSON of `show --json` for one record. */
export function fileJson(record: FileRecord, lease?: Lease): Record<string, unknown> {
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
    // Issue 14: someone has it open in `lanfs edit` (an edit lease), absent otherwise.
    ...(lease ? { editing: { host: lease.host, since: new Date(lease.since).toISOString() } } : {}),
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
    // Issue 15: when copies of a down server are made elsewhere (the dashboard's summary).
    ...(status.healAfterMs === undefined ? {} : { healAfterMs: status.healAfterMs }),
  };
}

/**
 * status with each server's entry completed from that server's own answer (its
 * space and bursts of deletes, which only it knows).
 */
export function mergeOwnEntries(
  status: BodyOf<'STATUS_RESULT'>,
  answers: BodyOf<'STATUS_RESULT'>[],
): BodyOf<'STATUS_RESULT'> {
  const own = new Map(
    answers.flatMap((a) => a.servers.filter((m) => m.id === a.serverId)).map((m) => [m.id, m]),
  );
  return {
    ...status,
    servers: status.servers.map((m) => {
      const theirs = own.get(m.id);
      if (!theirs) return m;
      return {
        ...m,
        ...(theirs.space ? { space: theirs.space } : {}),
        ...(theirs.deleteBursts ? { deleteBursts: theirs.deleteBursts } : {}),
        ...(theirs.faults ? { faults: theirs.faults } : {}),
      };
    }),
  };
}

/** One line of `history --json` and `/api/history/NAME`: the current version first. */
export function historyJson(answer: BodyOf<'HISTORY_RESULT'>): Record<string, unknown>[] {
  const line = (record: FileRecord, current: boolean): Record<string, unknown> => ({
    version: record.version,
    size: record.size,
    sha256: record.sha256,
    modifiedAt: record.modifiedAt,
    ...(record.writtenBy ? { writtenBy: record.writtenBy } : {}),
    current,
  });
  return [line(answer.current, true), ...answer.kept.map((e) => line(e.record, false))];
}

/** One entry of `trash --json` and `/api/trash`. */
export function trashJson(item: KeptEntryWire & { servers: number[] }): Record<string, unknown> {
  return {
    name: item.record.name,
    version: item.record.version,
    size: item.record.size,
    sha256: item.record.sha256,
    deletedAt: item.keptAt,
    ...(item.deletedBy ? { deletedBy: item.deletedBy } : {}),
    servers: item.servers,
  };
}
