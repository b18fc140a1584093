/**
 * What this server knows of the whole cluster (the single system image): every
 * member with its address, up or down, and the records of the files it holds,
 * next to this server's own catalog. Fed by the peer mesh; read by the server
 * to list files, show status and find where a file is.
 */
import type { FileRecord, Member } from '../protocol/messages.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';

export interface MemberState {
  id: number;
  address: string;
  up: boolean;
  /** The run of the member whose records we hold, and up to which version of its catalog. */
  instance: string | undefined;
  version: number;
  records: Map<string, FileRecord>;
}

/** Where a name can be served from, as seen from this server. */
export type Location =
  | { kind: 'local' }
  | { kind: 'remote'; serverId: number; address: string }
  | { kind: 'down'; holders: number[] }
  | { kind: 'none' };

export class ClusterView {
  readonly selfId: number;
  readonly #local: LocalCatalog;
  readonly #selfAddress: () => string;
  readonly #members = new Map<number, MemberState>();

  constructor(local: LocalCatalog, selfAddress: () => string) {
    this.selfId = local.serverId;
    this.#local = local;
    this.#selfAddress = selfAddress;
  }

  member(id: number): MemberState | undefined {
    return this.#members.get(id);
  }

  members(): MemberState[] {
    return [...this.#members.values()];
  }

  /** Learns of a member (or its new address); returns true if anything changed. */
  upsertMember(id: number, address: string): boolean {
    const known = this.#members.get(id);
    if (known) {
      if (known.address === address) return false;
      known.address = address;
      return true;
    }
    this.#members.set(id, {
      id,
      address,
      up: false,
      instance: undefined,
      version: 0,
      records: new Map(),
    });
    return true;
  }

  setUp(id: number, up: boolean): void {
    const member = this.#members.get(id);
    if (member) member.up = up;
  }

  /**
   * Applies a page of a member's records. Returns false when it does not follow
   * from what we hold (a delta we cannot apply): the caller asks for a full copy.
   */
  applyRecords(
    id: number,
    page: {
      instance: string;
      version: number;
      baseVersion: number;
      full: boolean;
      reset: boolean;
      records: FileRecord[];
      removed: string[];
    },
  ): boolean {
    const member = this.#members.get(id);
    if (!member) return false;
    if (page.full) {
      if (page.reset) member.records = new Map();
    } else if (member.instance !== page.instance || member.version !== page.baseVersion) {
      return false;
    }
    for (const record of page.records) member.records.set(record.name, record);
    for (const name of page.removed) member.records.delete(name);
    member.instance = page.instance;
    member.version = page.version;
    return true;
  }

  /** Whether we hold the member's catalog at this (instance, version). */
  isCurrent(id: number, instance: string, version: number): boolean {
    const member = this.#members.get(id);
    return member !== undefined && member.instance === instance && member.version === version;
  }

  /** Whether any server, up or down, holds a file of this name. */
  has(name: string): boolean {
    if (this.#local.has(name)) return true;
    for (const member of this.#members.values()) if (member.records.has(name)) return true;
    return false;
  }

  locate(name: string): Location {
    if (this.#local.has(name)) return { kind: 'local' };
    const down: number[] = [];
    for (const member of [...this.#members.values()].sort((a, b) => a.id - b.id)) {
      if (!member.records.has(name)) continue;
      if (member.up) return { kind: 'remote', serverId: member.id, address: member.address };
      down.push(member.id);
    }
    return down.length > 0 ? { kind: 'down', holders: down } : { kind: 'none' };
  }

  /** Every file of every server, one entry per name, with whether it can be read now. */
  list(): FileRecord[] {
    const byName = new Map<string, FileRecord>();
    for (const record of this.#local.list())
      byName.set(record.name, { ...record, available: true });
    for (const member of this.#members.values()) {
      for (const record of member.records.values()) {
        const known = byName.get(record.name);
        if (
          !known ||
          (!known.available && member.up) ||
          (known.available === member.up && record.version > known.version)
        ) {
          byName.set(record.name, { ...record, available: member.up });
        }
      }
    }
    return [...byName.values()];
  }

  /** Every server with its address, up/down and the number of files it holds. */
  servers(): Member[] {
    const servers: Member[] = [
      { id: this.selfId, address: this.#selfAddress(), up: true, files: this.#local.size },
    ];
    for (const member of this.#members.values()) {
      servers.push({
        id: member.id,
        address: member.address,
        up: member.up,
        files: member.records.size,
      });
    }
    return servers.sort((a, b) => a.id - b.id);
  }
}
