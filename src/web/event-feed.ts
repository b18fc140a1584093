/**
 * `GET /api/events`: the server's event stream as Server-Sent Events. First a
 * `snapshot` event (status and files, the state to patch), then every event the
 * moment it is published, as `event: <type>` and `data: <json>` (the JSON checks
 * against lanfsEventSchema). Nothing is polled: a comment line every 15 s only
 * keeps proxies and NAT tables from closing a quiet connection. Authorization is
 * the caller's job (http-server.ts checks the key before calling this).
 */
import { drained } from '../http/drained.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventStream, LanfsEvent } from '../events/event-stream.ts';

/** A comment line this often keeps a quiet stream open through proxies. */
export const HEARTBEAT_INTERVAL_MS = 15_000;

export interface EventFeedOptions {
  stream: EventStream;
  /** The JSON of `{ status, files }` now (what /api/status and /api/files answer). */
  snapshot: () => string;
  heartbeatMs?: number;
}

/** One event in the text/event-stream format. */
export function formatServerSentEvent(type: string, json: string): string {
  // JSON.stringify never emits a raw newline, so the data is one line.
  return `event: ${type}\ndata: ${json}\n\n`;
}

/** Serves the feed until the client goes away; resolves with the HTTP status sent. */
export async function serveEventFeed(
  req: IncomingMessage,
  res: ServerResponse,
  options: EventFeedOptions,
): Promise<number> {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    // nginx and its kind buffer responses unless told not to.
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  // Small writes leave at once (each event is its own packet, never held back).
  req.socket.setNoDelay(true);
  const write = (event: LanfsEvent): void | Promise<void> => {
    if (res.destroyed || res.writableEnded) return;
    if (res.write(formatServerSentEvent(event.type, JSON.stringify(event)))) return;
    // A slow reader: the stream queues for us (bounded) until the socket drains.
    return drained(res);
  };
  // The snapshot and the subscription happen in one turn of the event loop, so no
  // event falls between them.
  res.write(formatServerSentEvent('snapshot', options.snapshot()));
  const unsubscribe = options.stream.subscribe(write);
  const heartbeat = setInterval(() => {
    if (!res.destroyed) res.write(':\n\n');
  }, options.heartbeatMs ?? HEARTBEAT_INTERVAL_MS);
  heartbeat.unref();
  return await new Promise<number>((resolve) => {
    const finish = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      resolve(200);
    };
    if (res.destroyed) finish();
    else res.once('close', finish);
  });
}
