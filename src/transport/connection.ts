/**
 * A lanfs connection: a TCP socket turned into a stream of checked messages in
 * and framed messages out, with backpressure both ways. It owns the socket and
 * nothing else: what the messages mean is up to the client or the server that
 * holds it. A protocol error closes the connection after telling the other end
 * why (an ERROR on stream 0); it never throws out of a socket handler.
 */
import { FrameDecoder } from '../protocol/frame-decoder.ts';
import { DATA_CHUNK_BYTES, encodeFrameHeader } from '../protocol/frame.ts';
import {
  decodeMessage,
  encodeMessage,
  isKnownMessageType,
  MessageType,
  type ControlMessageName,
  type InputOf,
  type Message,
} from '../protocol/messages.ts';
import {
  ConnectionClosedError,
  errorFromWire,
  errorToWire,
  LanfsError,
  TimeoutError,
} from '../shared/errors.ts';

/** How long a send may wait for the other end to read before the connection is dropped. */
export const DRAIN_TIMEOUT_MS = 60_000;

export type MessageHandler = (message: Message) => void;

/**
 * What a Connection uses of its socket. A net.Socket (or tls.TLSSocket) is one;
 * so is each end of memory-pair.ts, which lets the rules above the transport be
 * tested without sockets.
 */
export interface ConnectionSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly writableNeedDrain: boolean;
  setNoDelay(noDelay: boolean): unknown;
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean;
  end(): unknown;
  end(chunk: Buffer): unknown;
  cork(): void;
  uncork(): void;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
}

export class Connection {
  readonly socket: ConnectionSocket;
  readonly #decoder = new FrameDecoder({
    isKnownType: isKnownMessageType,
    // File bytes go on as they arrive: a 256 KiB DATA frame is never copied together.
    streamedType: MessageType.DATA,
  });
  #handler: MessageHandler | undefined;
  #queue: Message[] = [];
  #waiter: { resolve: (m: Message) => void; reject: (e: Error) => void } | undefined;
  #closeError: Error | undefined;
  #closed = false;
  #drained: Promise<void> | undefined;
  /** pause() calls not yet matched by a resume(). */
  #pauses = 0;
  readonly #closeListeners: ((err: Error | undefined) => void)[] = [];

  /** When the last complete message arrived (Date.now()). */
  lastMessageAt = Date.now();

  constructor(socket: ConnectionSocket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) =>
      this.#finish(
        new ConnectionClosedError(`The connection failed: ${err.message}.`, { cause: err }),
      ),
    );
    socket.on('close', () => this.#finish(this.#closeError ?? new ConnectionClosedError()));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get remoteAddress(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  /** From now on every message goes to the handler (queued ones first). */
  setHandler(handler: MessageHandler): void {
    this.#handler = handler;
    const queued = this.#queue;
    this.#queue = [];
    for (const message of queued) handler(message);
  }

  /** The next message, for request-by-request use before a handler is set (the handshake). */
  async receive(timeoutMs: number): Promise<Message> {
    const queued = this.#queue.shift();
    if (queued) return queued;
    if (this.#closed) throw this.#closeError ?? new ConnectionClosedError();
    return await new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new TimeoutError(`No answer from ${this.remoteAddress} within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.#waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  onClose(listener: (err: Error | undefined) => void): void {
    if (this.#closed) listener(this.#closeError);
    else this.#closeListeners.push(listener);
  }

  /** Send a control message. Returns false when the socket's buffer is full (see drain()). */
  send<K extends ControlMessageName>(type: K, streamId: number, body: InputOf<K>): boolean {
    if (this.#closed) return false;
    return this.socket.write(encodeMessage(type, streamId, body));
  }

  /**
   * Send file bytes, as DATA frames of at most DATA_CHUNK_BYTES. onWritten is called
   * once the socket no longer needs bytes (they may be reused then): written, or
   * dropped because the connection closed first.
   */
  sendData(streamId: number, bytes: Buffer, onWritten?: () => void): boolean {
    if (this.#closed) {
      onWritten?.();
      return false;
    }
    this.socket.cork();
    let ok = true;
    for (let offset = 0; offset < bytes.length || offset === 0; offset += DATA_CHUNK_BYTES) {
      const frame = bytes.subarray(offset, offset + DATA_CHUNK_BYTES);
      const last = offset + DATA_CHUNK_BYTES >= bytes.length;
      this.socket.write(encodeFrameHeader(MessageType.DATA, streamId, frame.length));
      // A socket finishes its writes in order: the last one's callback covers them all.
      ok = this.socket.write(frame, last && onWritten ? () => onWritten() : undefined);
    }
    this.socket.uncork();
    return ok;
  }

  /**
   * Resolves when the socket can take more bytes; rejects if the connection closes
   * first. All waiters share one promise (many streams can wait at once).
   */
  async drain(): Promise<void> {
    if (this.#closed) throw this.#closeError ?? new ConnectionClosedError();
    if (!this.socket.writableNeedDrain) return;
    this.#drained ??= new Promise<void>((resolve, reject) => {
      // The other end stopped reading: do not wait for ever with its bytes in memory.
      const timer = setTimeout(() => {
        cleanup();
        this.destroy(
          new TimeoutError(`The other end read nothing for ${DRAIN_TIMEOUT_MS} ms; closing.`),
        );
        reject(this.#closeError ?? new ConnectionClosedError());
      }, DRAIN_TIMEOUT_MS);
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(this.#closeError ?? new ConnectionClosedError());
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#drained = undefined;
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
      };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
    await this.#drained;
  }

  /**
   * Cuts off a peer that holds the connection without using it: part of a message
   * sent and then nothing for `partialMessageMs` (one byte a minute), nothing at
   * all for `stalledMs` while `waiting()` says a request needs its bytes, or no
   * message for `idleMs` while nothing is in flight (`idle()`).
   */
  guard(limits: {
    partialMessageMs: number;
    stalledMs: number;
    idleMs: number;
    waiting: () => boolean;
    idle: () => boolean;
  }): void {
    const timer = setInterval(
      () => {
        const quiet = Date.now() - this.lastMessageAt;
        if (this.#decoder.midFrame && quiet > limits.partialMessageMs) {
          this.close(
            new TimeoutError(
              `Part of a message arrived and then nothing for ${limits.partialMessageMs} ms; closing.`,
            ),
          );
        } else if (limits.waiting() && quiet > limits.stalledMs) {
          this.close(
            new TimeoutError(`An upload stalled (nothing for ${limits.stalledMs} ms); closing.`),
          );
        } else if (limits.idle() && quiet > limits.idleMs) {
          this.close(new TimeoutError(`The connection was idle for ${limits.idleMs} ms; closing.`));
        }
      },
      Math.min(1000, limits.partialMessageMs / 2),
    );
    timer.unref();
    this.onClose(() => clearInterval(timer));
  }

  /** Gather what is sent until uncork() into as few packets as possible (calls nest). */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  /**
   * Stop reading from the socket (the reader's side of backpressure) until every
   * pause() has had its resume(): several requests on one connection may each hold it.
   */
  pause(): void {
    if (this.#pauses++ === 0) this.socket.pause();
  }

  resume(): void {
    if (this.#pauses === 0) return;
    if (--this.#pauses === 0 && !this.#closed) this.socket.resume();
  }

  /** Tell the other end why (if there is an error) and close. */
  close(err?: LanfsError): void {
    if (this.#closed) return;
    if (err) {
      this.#closeError = err;
      this.socket.end(encodeMessage('ERROR', 0, errorToWire(err)));
      // A peer that never reads must not keep the socket alive.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    this.#finish(err);
  }

  destroy(err?: Error): void {
    this.socket.destroy();
    this.#finish(err);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    let messages: Message[];
    try {
      messages = this.#decoder.push(chunk).map(decodeMessage);
    } catch (err) {
      this.close(err instanceof LanfsError ? err : undefined);
      return;
    }
    if (messages.length > 0) this.lastMessageAt = Date.now();
    for (const message of messages) {
      if (this.#closed) return;
      // An error on stream 0 is the other end's last word: it becomes the close reason.
      if (message.type === 'ERROR' && message.streamId === 0) {
        this.#closeError = errorFromWire(message.body.code, message.body.message);
      }
      if (this.#handler) this.#handler(message);
      else if (this.#waiter) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter.resolve(message);
      } else this.#queue.push(message);
    }
  }

  #finish(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError ??= err;
    if (this.#waiter) {
      this.#waiter.reject(this.#closeError ?? new ConnectionClosedError());
      this.#waiter = undefined;
    }
    for (const listener of this.#closeListeners.splice(0)) listener(this.#closeError);
  }
}
