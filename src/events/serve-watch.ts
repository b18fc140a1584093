/**
 * The server side of `WATCH`: once a client asks, every event of this server's
 * stream goes to it as `EVENT` on the request's stream, until the connection
 * closes. The first is a `watching` notice (the client knows it listens from then
 * on). Takes the connection as a tiny structural interface, so the TCP session
 * (or a test) only passes what it has. The session keeps the stream open for the
 * life of the connection: a watch is the one request that never ends by itself.
 */
import type { LanfsEvent } from '../protocol/messages.ts';
import type { EventStream } from './event-stream.ts';

/** What serveWatch needs of a connection (transport's Connection fits). */
export interface WatchConnection {
  /** Sends one message; false when the socket's buffer is full. */
  send(type: 'EVENT', streamId: number, body: LanfsEvent): boolean;
  onClose(listener: (err: Error | undefined) => void): void;
  /** Resolves when the socket can take more; rejects if the connection closes. */
  drain(): Promise<void>;
}

export function serveWatch(
  connection: WatchConnection,
  streamId: number,
  stream: EventStream,
): void {
  // While the client reads slowly the stream queues for it (bounded: a `lagged`
  // notice replaces a long backlog), instead of the socket's buffer growing.
  connection.send('EVENT', streamId, {
    type: 'watching',
    at: Date.now(),
    serverId: stream.serverId,
  });
  const unsubscribe = stream.subscribe((event) =>
    connection.send('EVENT', streamId, event) ? undefined : connection.drain(),
  );
  connection.onClose(unsubscribe);
}
