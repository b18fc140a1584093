/**
 * Feeds a server's EventStream from what already tells of changes: the local
 * catalog (a create, edit or delete committed here) and the cluster view (records
 * from peers changed; a member went up or down). The sources are taken as small
 * structural interfaces, so this folder imports nothing from storage/ or cluster/
 * (LocalCatalog and ClusterView fit them as they are).
 *
 * Both sources only say "this name changed". Which change it was is found by
 * comparing the file as the cluster lists it now with the last one seen here, so
 * a create made through another server, which reaches this one as a record delta,
 * is reported as `created` here too, and the several callbacks one change causes
 * (the copy stored here, then the primary's delta) give one event, not several.
 */
import type { FileRecord } from '../protocol/messages.ts';
import type { ClusterEvent, EventStream } from './event-stream.ts';

/** The catalog of this server (LocalCatalog fits). */
export interface CatalogSource {
  onChange(listener: (name: string) => void): void;
  get(name: string): FileRecord | undefined;
  list(): FileRecord[];
}

/** A server holding a file, with its record (ClusterView's Holder fits). */
export interface HolderLike {
  id: number;
  up: boolean;
  record: FileRecord;
}

/** The cluster as this server sees it (ClusterView fits). */
export interface ViewSource {
  onNameChange(listener: (name: string) => void): void;
  onMemberChange(listener: (id: number, up: boolean) => void): void;
  member(id: number): { address: string; records: ReadonlyMap<string, unknown> } | undefined;
  /**
   * The holders of the newest version of the file served under name, and the
   * server taking its edits and deletes if any is up: one walk over the members.
   */
  served(name: string): { newest: HolderLike[]; acting: number | undefined };
  /** Every file of the cluster (read once, at attach). */
  list(): FileRecord[];
}

export interface EventSources {
  /** Copies wanted per file (--replicas): fewer live holders is a `copy-missing`. */
  replicas: number;
  catalog?: CatalogSource;
  view?: ViewSource;
  /** The clock, for tests. */
  now?: () => number;
}

/** A name as the cluster lists it now: its record, and who holds the newest version. */
interface Listed {
  record: FileRecord;
  /** Every holder of the newest version, up or down. */
  holders: number[];
  live: number;
}

/**
 * What was last seen of one name, to tell which change a callback meant: only what
 * the comparison needs (a copy of each record cost 640 bytes a name at 1 M files).
 */
interface Seen {
  fileId: string;
  version: number;
  /** The holders of the newest version, joined with commas. */
  holders: string;
  live: number;
}

function seenOf({ record, holders, live }: Listed): Seen {
  return { fileId: record.fileId, version: record.version, holders: holders.join(), live };
}

/**
 * Subscribes to the sources and publishes their changes on stream until the
 * function returned is called. The names a callback reports are looked at once
 * per turn of the event loop (a delta of many records costs one look each).
 * Never throws into the source's callback.
 */
export function attachEventSources(stream: EventStream, sources: EventSources): () => void {
  const now = sources.now ?? Date.now;
  const seen = new Map<string, Seen>();
  const dirty = new Set<string>();
  let scheduled = false;
  let attached = true;

  const base = (): { at: number; serverId: number } => ({ at: now(), serverId: stream.serverId });
  const publish = (event: ClusterEvent): void => stream.publish(event);

  const current = (name: string): Listed | undefined => {
    if (!sources.view) {
      const record = sources.catalog?.get(name);
      return record && { record, holders: [stream.serverId], live: 1 };
    }
    const { newest, acting } = sources.view.served(name);
    if (newest.length === 0) return undefined;
    // The same choice as ClusterView.list(): the acting primary's record, every holder seen.
    const primary = acting ?? newest[0]!.record.primary;
    const chosen = (newest.find((h) => h.id === primary) ?? newest[0]!).record;
    const holders = newest.map((h) => h.id).sort((a, b) => a - b);
    const record: FileRecord = {
      ...chosen,
      primary,
      replicas: [...new Set([...holders, ...chosen.replicas])]
        .filter((id) => id !== primary)
        .sort((a, b) => a - b),
      available: newest.some((h) => h.up),
    };
    return { record, holders, live: newest.filter((h) => h.up).length };
  };

  const look = (name: string): void => {
    const before = seen.get(name);
    const after = current(name);
    if (!after) {
      if (!before) return;
      seen.delete(name);
      publish({ type: 'record-changed', ...base(), name, record: null, change: 'deleted' });
      return;
    }
    seen.set(name, seenOf(after));
    const { record } = after;
    if (!before) {
      // A name that appears with conflictOf set is the loser of a conflict, moved here.
      const moved = record.conflictOf !== undefined;
      publish({
        type: 'record-changed',
        ...base(),
        name,
        record,
        change: moved ? 'moved' : 'created',
      });
      if (moved) publish({ type: 'conflict', ...base(), name, conflictOf: record.conflictOf! });
      return;
    }
    if (before.fileId !== record.fileId || before.version !== record.version) {
      // A new version lives on its primary first; its copies follow in a moment, so
      // fewer holders of it now is no news.
      publish({ type: 'record-changed', ...base(), name, record, change: 'edited' });
      return;
    }
    if (before.holders !== after.holders.join()) {
      // Same version, other holders: copies made (or dropped as surplus).
      publish({ type: 'record-changed', ...base(), name, record, change: 'copied' });
      // A holder that is the primary itself is the original showing up, not a copy.
      const held = new Set(before.holders.split(',').map(Number));
      for (const id of after.holders)
        if (!held.has(id) && id !== record.primary)
          publish({ type: 'copy-made', ...base(), name, on: id });
    }
    // Only a fall below the factor of one version is news (a holder went down or
    // dropped it); a file never copied yet (copies still on their way) is not.
    const wanted = sources.replicas;
    if (before.live >= wanted && after.live < wanted) {
      const holders = sources.view
        ? sources.view
            .served(name)
            .newest.filter((h) => h.up)
            .map((h) => h.id)
            .sort((a, b) => a - b)
        : [stream.serverId];
      publish({ type: 'copy-missing', ...base(), name, holders, wanted });
    }
  };

  const run = (): void => {
    scheduled = false;
    if (!attached) return;
    const names = [...dirty];
    dirty.clear();
    for (const name of names) {
      try {
        look(name);
      } catch {
        // A name that cannot be looked at now (e.g. mid-change) is looked at on its next change.
      }
    }
  };

  const changed = (name: string): void => {
    if (!attached) return;
    dirty.add(name);
    if (scheduled) return;
    scheduled = true;
    setImmediate(run);
  };

  sources.catalog?.onChange(changed);
  if (sources.view) {
    const view = sources.view;
    view.onNameChange(changed);
    view.onMemberChange((id, up) => {
      if (!attached) return;
      const member = view.member(id);
      publish({
        type: up ? 'member-up' : 'member-down',
        ...base(),
        memberId: id,
        address: member?.address ?? '',
      });
      // Its files have one live holder more or fewer: look at them (copy-missing).
      for (const name of member?.records.keys() ?? []) changed(name);
    });
  }
  // What exists at attach time is known, not news: a later copy of it is no `created`.
  for (const record of sources.view?.list() ?? sources.catalog?.list() ?? []) {
    const state = current(record.name);
    if (state) seen.set(record.name, seenOf(state));
  }
  return () => {
    attached = false;
    dirty.clear();
  };
}
