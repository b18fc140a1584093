/**
 * Two connected ends in memory that behave like a pair of TCP sockets, so the
 * rules above the transport (handshake, sessions, mesh, replicator) run in a
 * unit test without a port. Each end is a stream.Duplex with what Connection
 * uses of a socket: bytes written on one end arrive on the other, a reader that
 * stops reading holds the writer back ('drain' when it reads again), end() is a
 * FIN (the other end closes too, like a socket without half-open), destroy() is
 * a reset (the other end sees the end, and its later writes fail with EPIPE).
 */
import { Duplex } from 'node:stream';
import { Connection, type ConnectionSocket } from './connection.ts';

function brokenPipe(): NodeJS.ErrnoException {
  return Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
}

export class MemorySocket extends Duplex implements ConnectionSocket {
  readonly remoteAddress: string;
  readonly remotePort: number;
  bytesRead = 0;
  bytesWritten = 0;
  #peer: MemorySocket | undefined;
  /** The peer's write waiting for this end to read (the writer's side of backpressure). */
  #wakeWriter: ((err?: Error) => void) | undefined;
  /** This end's readable side has been told "no more bytes". */
  #eof = false;

  /** Use memorySocketPair(); `remote` names the other end, as a socket's remoteAddress does. */
  constructor(remote: string, remotePort: number) {
    // No half-open: when the other end finishes, this end finishes too (as net.Socket does).
    super({ allowHalfOpen: false });
    this.remoteAddress = remote;
    this.remotePort = remotePort;
  }

  static pair(): [MemorySocket, MemorySocket] {
    const a = new MemorySocket('memory-b', 2);
    const b = new MemorySocket('memory-a', 1);
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  /** Nothing to delay in memory; present because Connection asks every socket for it. */
  setNoDelay(_noDelay = true): this {
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error) => void): void {
    const peer = this.#peer!;
    if (peer.destroyed || peer.#eof) {
      callback(brokenPipe());
      return;
    }
    this.bytesWritten += chunk.length;
    peer.bytesRead += chunk.length;
    // A full reader keeps this write unfinished until it reads: our own buffer then
    // fills, write() returns false, and 'drain' comes once the reader caught up.
    // A copy, as the kernel makes: the writer may reuse its buffer once called back.
    if (peer.push(Buffer.from(chunk))) callback();
    else peer.#wakeWriter = callback;
  }

  override _read(): void {
    const wake = this.#wakeWriter;
    this.#wakeWriter = undefined;
    wake?.();
  }

  override _final(callback: (err?: Error) => void): void {
    this.#peer!.#endOfStream();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // A write of the peer's that waits for us will never be read.
    const wake = this.#wakeWriter;
    this.#wakeWriter = undefined;
    wake?.(brokenPipe());
    this.#peer!.#endOfStream();
    callback(err);
  }

  #endOfStream(): void {
    if (this.#eof || this.destroyed) return;
    this.#eof = true;
    this.push(null);
  }
}

/** Two socket-like ends joined in memory (see MemorySocket). */
export function memorySocketPair(): [MemorySocket, MemorySocket] {
  return MemorySocket.pair();
}

/** Two Connections joined in memory: what one sends the other receives. */
export function connectionPair(): [Connection, Connection] {
  const [a, b] = memorySocketPair();
  return [new Connection(a), new Connection(b)];
}
