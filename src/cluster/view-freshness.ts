/**
 * Whether this server's cluster view may be out of date, so that a copy it holds
 * may be an old version (issue 13, the torture's wrong reads). Two moments make it
 * so: its own start (a server restarted after kill -9 holds what it held, but the
 * others may have moved on meanwhile), and its event loop standing still (SIGSTOP,
 * a long pause): the others marked it down after DOWN_AFTER_MS and wrote without it.
 * Until it has heard every member again after such a moment, and has their records,
 * a read or a write here waits, for FRESHNESS_WAIT_MS after that moment at most.
 * Once it has, the view is current until the next stall: a member that dies later is
 * an ordinary failure the mesh handles, and must not hold a failed-over client's
 * request up until the bound (the failover bench's 2.8 s, when a server died within
 * 3 s of its peer's start).
 *
 * A stall is seen by the time since the last tick, not by the tick itself: after
 * SIGCONT, Node handles the sockets' queued requests before any timer runs.
 */

/** How often the event loop is looked at. */
const TICK_MS = 100;
/** A loop that stood still this long may have been marked down by its peers. */
export const STALL_MS = 1000;
/** After a start or a stall, the view counts as current after this long whatever (a
 *  partition does not end by waiting: each side then serves what it holds). */
export const FRESHNESS_WAIT_MS = 3000;
/** How often a waiting request looks again. */
const POLL_MS = 25;

export interface ViewFreshnessOptions {
  /** Whether every member was heard, and its records are in, since `since` (ms epoch). */
  peersHeardSince: (since: number) => boolean;
  /** Whether any member is known: with none, everyone is heard trivially, which must not
   *  count as caught up (a new server hears its first peer a moment after its start). */
  anyMember?: () => boolean;
  /** Default FRESHNESS_WAIT_MS. */
  maxWaitMs?: number;
  now?: () => number;
}

export class ViewFreshness {
  readonly #o: ViewFreshnessOptions;
  readonly #now: () => number;
  #lastTick: number;
  /** When the last start or stall ended: the view is unsure from there until peers are heard. */
  #since: number;
  /** Every member was heard after `#since`: current until the next stall. */
  #caughtUp = false;
  #timer: NodeJS.Timeout | undefined;
  /** Stalls seen since start (for the log and tests). */
  stalls = 0;

  constructor(options: ViewFreshnessOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#lastTick = this.#now();
    this.#since = this.#lastTick;
  }

  start(): void {
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = this.#now();
    if (now - this.#lastTick > STALL_MS) {
      this.#since = now;
      this.#caughtUp = false;
      this.stalls++;
    }
    this.#lastTick = now;
    // Looked at here too, not only when a request asks: a peer that dies before the
    // first request after a start must not leave this view unsure until the bound.
    if (!this.#caughtUp && now - this.#since < (this.#o.maxWaitMs ?? FRESHNESS_WAIT_MS))
      this.#heard();
  }

  /** True while the view may be behind (see the module's comment). */
  get unsure(): boolean {
    const now = this.#now();
    // A stall still unseen by the timer: the loop just woke up.
    if (now - this.#lastTick > STALL_MS) return true;
    if (this.#caughtUp) return false;
    if (now - this.#since >= (this.#o.maxWaitMs ?? FRESHNESS_WAIT_MS)) return false;
    return !this.#heard();
  }

  #heard(): boolean {
    if (this.#caughtUp) return true;
    if (!this.#o.peersHeardSince(this.#since)) return false;
    if (this.#o.anyMember?.() ?? true) this.#caughtUp = true;
    return true;
  }

  /**
   * Resolves once the view is current (at once, nearly always): true when every
   * member was heard, false when the bound ran out first (a partition, or peers slow
   * to answer): a write that began before a stall should then not go on.
   */
  async settled(): Promise<boolean> {
    // Bounded: unsure turns false at the latest maxWaitMs after the start or stall.
    while (this.unsure) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    return this.#heard();
  }
}
