/**
 * The WebDAV write locks of one server (RFC 4918 §6, §9.10): exclusive and
 * shared, depth 0 or infinity, with timeouts. Paths are lanfs folder paths
 * ('' is the root, 'a/b' a file or folder); a depth-infinity lock on a folder
 * covers everything under it. The table is bounded: past its size a new lock is
 * refused (a storm of LOCKs gets 503), and expired locks are dropped as the
 * table is used. Pure: time comes from the caller's clock.
 *
 * Each file's locks live on its acting primary (the front end forwards LOCK,
 * UNLOCK and writes there), so they hold cluster-wide; a failover loses them.
 */
import { randomUUID } from 'node:crypto';

export type LockScope = 'exclusive' | 'shared';
export type LockDepth = '0' | 'infinity';

export interface DavLock {
  token: string;
  /** The locked path: '' for the root. */
  path: string;
  scope: LockScope;
  depth: LockDepth;
  /** The lock's owner element as the client sent it (an XML tree), echoed in lockdiscovery. */
  owner: unknown;
  timeoutSeconds: number;
  expiresAt: number;
}

export const DEFAULT_TIMEOUT_SECONDS = 600;
export const MAX_TIMEOUT_SECONDS = 3600;
export const DEFAULT_MAX_LOCKS = 10_000;

export type LockResult =
  | { ok: true; lock: DavLock }
  | { ok: false; reason: 'conflict'; with: DavLock }
  | { ok: false; reason: 'full' };

/** Whether path is at or under folder (the root holds everything). */
export function isWithin(path: string, folder: string): boolean {
  return folder === '' || path === folder || path.startsWith(`${folder}/`);
}

/** The seconds a `Timeout` header asks for (its first usable value), capped; the default if none. */
export function timeoutSeconds(header: string | undefined): number {
  for (const part of (header ?? '').split(',')) {
    const value = part.trim();
    if (/^infinite$/i.test(value)) return MAX_TIMEOUT_SECONDS;
    const match = /^Second-(\d+)$/i.exec(value);
    if (match) return Math.max(1, Math.min(MAX_TIMEOUT_SECONDS, Number(match[1])));
  }
  return DEFAULT_TIMEOUT_SECONDS;
}

export class LockTable {
  readonly #locks = new Map<string, DavLock>();
  readonly #now: () => number;
  readonly #maxLocks: number;

  constructor(options: { now?: () => number; maxLocks?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxLocks = options.maxLocks ?? DEFAULT_MAX_LOCKS;
  }

  get size(): number {
    this.#expire();
    return this.#locks.size;
  }

  get(token: string): DavLock | undefined {
    this.#expire();
    return this.#locks.get(token);
  }

  /** The locks that apply to path: on it, or depth infinity on a folder above it. */
  covering(path: string): DavLock[] {
    this.#expire();
    return [...this.#locks.values()].filter(
      (l) => l.path === path || (l.depth === 'infinity' && isWithin(path, l.path)),
    );
  }

  /** The locks on path or anything under it (what a folder delete or move must respect). */
  within(path: string): DavLock[] {
    this.#expire();
    return [...this.#locks.values()].filter((l) => isWithin(l.path, path));
  }

  /** Takes a new lock, unless one in the way conflicts or the table is full. */
  lock(request: {
    path: string;
    scope: LockScope;
    depth: LockDepth;
    owner?: unknown;
    timeoutSeconds: number;
  }): LockResult {
    const inTheWay = [
      ...this.covering(request.path),
      ...(request.depth === 'infinity' ? this.within(request.path) : []),
    ];
    const conflict = inTheWay.find((l) => l.scope === 'exclusive' || request.scope === 'exclusive');
    if (conflict) return { ok: false, reason: 'conflict', with: conflict };
    if (this.#locks.size >= this.#maxLocks) return { ok: false, reason: 'full' };
    const lock: DavLock = {
      token: `opaquelocktoken:${randomUUID()}`,
      path: request.path,
      scope: request.scope,
      depth: request.depth,
      owner: request.owner,
      timeoutSeconds: request.timeoutSeconds,
      expiresAt: this.#now() + request.timeoutSeconds * 1000,
    };
    this.#locks.set(lock.token, lock);
    return { ok: true, lock };
  }

  /** Starts the timeout of the lock token again (it must cover path); undefined if it does not. */
  refresh(token: string, path: string, seconds: number): DavLock | undefined {
    const lock = this.covering(path).find((l) => l.token === token);
    if (!lock) return undefined;
    lock.timeoutSeconds = seconds;
    lock.expiresAt = this.#now() + seconds * 1000;
    return lock;
  }

  /** Removes the lock token if it covers path; whether it did. */
  unlock(token: string, path: string): boolean {
    const lock = this.covering(path).find((l) => l.token === token);
    return lock !== undefined && this.#locks.delete(token);
  }

  /** Drops every lock on path and under it (the resource was deleted or moved away). */
  drop(path: string): void {
    for (const lock of this.within(path)) this.#locks.delete(lock.token);
  }

  #expire(): void {
    const now = this.#now();
    for (const [token, lock] of this.#locks) if (lock.expiresAt <= now) this.#locks.delete(token);
  }
}
