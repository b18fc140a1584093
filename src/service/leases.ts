/**
 * Edit leases: who has a file open in `lanfs edit`, held in the memory of the
 * file's acting primary (the server every edit of it goes to). A lease is a hint
 * for people ("being edited on HOST since 10:42"), never a lock: the version
 * check on upload stays the safety net. The client renews it while the editor is
 * open; one not renewed within LEASE_TTL_MS is gone, so a client killed mid-edit
 * frees the file within seconds. A failover of the primary drops its leases (the
 * editing client's next renewal takes it again on the new acting primary).
 */
import { LEASE_TTL_MS, type Lease } from '../protocol/messages.ts';

export type LeaseAnswer = { lease: Lease | null; other?: Lease };
/** `expired`: not renewed within the TTL (the editing client died or lost the server). */
export type LeaseChange = 'taken' | 'released' | 'expired';

export class LeaseTable {
  readonly #serverId: number;
  readonly #ttlMs: number;
  readonly #leases = new Map<string, Lease>();
  readonly #listeners: ((change: LeaseChange, lease: Lease) => void)[] = [];

  constructor(serverId: number, ttlMs = LEASE_TTL_MS) {
    this.#serverId = serverId;
    this.#ttlMs = ttlMs;
  }

  /**
   * Called when a lease is taken (not renewed) or ends (released, or expired: seen
   * by the next look at it, which sweep() makes at least every second or so).
   */
  onChange(listener: (change: LeaseChange, lease: Lease) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Takes or renews the lease of name for holder. Someone else's live lease is
   * answered as `other` and left alone, unless `force` (the user said so).
   */
  take(name: string, host: string, holder: string, force: boolean, now = Date.now()): LeaseAnswer {
    const held = this.get(name, now);
    if (held && held.holder !== holder && !force) return { lease: null, other: held };
    const lease: Lease = {
      name,
      host,
      holder,
      since: held?.holder === holder ? held.since : now,
      expiresAt: now + this.#ttlMs,
      serverId: this.#serverId,
    };
    this.#leases.set(name, lease);
    if (held?.holder !== holder) this.#emit('taken', lease);
    return held && held.holder !== holder ? { lease, other: held } : { lease };
  }

  release(name: string, holder: string): LeaseAnswer {
    const held = this.#leases.get(name);
    if (held?.holder === holder) {
      this.#leases.delete(name);
      this.#emit('released', held);
    }
    return { lease: null };
  }

  /** The live lease of name, if any (an expired one is dropped on the way). */
  get(name: string, now = Date.now()): Lease | undefined {
    const held = this.#leases.get(name);
    if (held && held.expiresAt <= now) {
      this.#leases.delete(name);
      this.#emit('expired', held);
      return undefined;
    }
    return held;
  }

  list(now = Date.now()): Lease[] {
    for (const name of [...this.#leases.keys()]) this.get(name, now);
    return [...this.#leases.values()];
  }

  /** Drops the expired leases now (their `expired` is told); the server calls it on a timer. */
  sweep(now = Date.now()): void {
    this.list(now);
  }

  #emit(change: LeaseChange, lease: Lease): void {
    for (const listener of this.#listeners) listener(change, lease);
  }
}
