/**
 * One server's event stream: every change worth telling a person or a program
 * about (a record changed, a member went up or down, a conflict, a copy missing
 * or made, a transfer), published once and handed to every subscriber (the
 * dashboard's server-sent events, `lanfs watch`). Pure: no sockets, no timers.
 *
 * Memory stays bounded whatever the subscribers do: a subscriber that is busy
 * (its listener returned a promise that has not settled) gets events queued, at
 * most `maxQueued`; past that its queue is replaced by one `lagged` notice saying
 * how many were dropped, so it can read the whole state again.
 *
 *   const stream = new EventStream({ serverId: 1 });
 *   const unsubscribe = stream.subscribe((event) => console.log(event.type));
 *   stream.publish({ type: 'member-up', at: Date.now(), serverId: 1, memberId: 2, address });
 */
import { lanfsEventSchema, type LanfsEvent } from '../protocol/messages.ts';

export { lanfsEventSchema, type LanfsEvent };

/** An event of the cluster, as a source publishes it (not a notice of the stream itself). */
export type ClusterEvent = Exclude<LanfsEvent, { type: 'watching' | 'lagged' }>;
export type EventType = LanfsEvent['type'];

/**
 * Receives each event. Return nothing to take the next at once; return a promise
 * to say "busy until this settles" (e.g. until a socket drains): events meanwhile
 * are queued for this subscriber, and past the bound replaced by a `lagged` notice.
 * A listener that throws (or whose promise rejects) is unsubscribed.
 */
export type EventListener = (event: LanfsEvent) => void | Promise<void>;

/** Events queued for one busy subscriber before it is told it lagged. */
export const DEFAULT_MAX_QUEUED = 1000;

export interface EventStreamOptions {
  /** The server whose stream this is: its notices (`lagged`, `watching`) say so. */
  serverId: number;
  /** Events kept for a busy subscriber; more drop them all for one `lagged` notice. Default 1000. */
  maxQueued?: number;
}

interface Subscriber {
  listener: EventListener;
  queue: LanfsEvent[];
  busy: boolean;
  /** Events dropped since the last `lagged` notice was queued. */
  dropped: number;
  closed: boolean;
}

export class EventStream {
  readonly #subscribers = new Set<Subscriber>();
  readonly #maxQueued: number;
  readonly serverId: number;

  constructor(options: EventStreamOptions) {
    this.serverId = options.serverId;
    this.#maxQueued = Math.max(1, options.maxQueued ?? DEFAULT_MAX_QUEUED);
  }

  /** How many subscribers listen now. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Hands event to every subscriber; never throws, whatever a listener does. */
  publish(event: ClusterEvent): void {
    for (const subscriber of this.#subscribers) {
      if (subscriber.busy) this.#enqueue(subscriber, event);
      else this.#deliver(subscriber, event);
    }
  }

  /** Starts handing events to listener; the function returned stops it (idempotent). */
  subscribe(listener: EventListener): () => void {
    const subscriber: Subscriber = {
      listener,
      queue: [],
      busy: false,
      dropped: 0,
      closed: false,
    };
    this.#subscribers.add(subscriber);
    return () => this.#drop(subscriber);
  }

  #enqueue(subscriber: Subscriber, event: LanfsEvent): void {
    if (subscriber.dropped > 0) {
      // Already lagging: the notice at the end of the queue counts this one too.
      subscriber.dropped++;
      const notice = subscriber.queue[subscriber.queue.length - 1];
      if (notice?.type === 'lagged') notice.dropped = subscriber.dropped;
      return;
    }
    if (subscriber.queue.length < this.#maxQueued) {
      subscriber.queue.push(event);
      return;
    }
    // Too far behind: whatever it would read next is stale anyway. One notice
    // replaces the queue, so a stuck subscriber costs one object, not a backlog.
    subscriber.dropped = subscriber.queue.length + 1;
    subscriber.queue = [
      { type: 'lagged', at: event.at, serverId: this.serverId, dropped: subscriber.dropped },
    ];
  }

  #deliver(subscriber: Subscriber, event: LanfsEvent): void {
    let result: void | Promise<void>;
    try {
      result = subscriber.listener(event);
    } catch {
      this.#drop(subscriber);
      return;
    }
    if (result === undefined) return;
    subscriber.busy = true;
    result.then(
      () => {
        subscriber.busy = false;
        this.#flush(subscriber);
      },
      () => this.#drop(subscriber),
    );
  }

  /** Delivers what queued while the subscriber was busy, until it is busy again. */
  #flush(subscriber: Subscriber): void {
    while (!subscriber.closed && !subscriber.busy && subscriber.queue.length > 0) {
      const next = subscriber.queue.shift()!;
      if (next.type === 'lagged') subscriber.dropped = 0;
      this.#deliver(subscriber, next);
    }
  }

  #drop(subscriber: Subscriber): void {
    subscriber.closed = true;
    subscriber.queue = [];
    this.#subscribers.delete(subscriber);
  }
}
