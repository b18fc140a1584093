/**
 * Incremental frame decoder: feed it bytes as they arrive, in any split, and it
 * returns the complete frames. It checks every header before buffering a payload
 * (magic, version, known type, length against the maximum), so a hostile length
 * prefix never makes it allocate; after a ProtocolError the decoder is unusable
 * and the connection must be closed. The payload of a streamed type (file bytes)
 * comes out in the pieces it arrived in, each as a frame of its own, so a large
 * frame split over many socket reads is never copied into one buffer.
 */
import { ProtocolError } from '../shared/errors.ts';
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  MAX_FRAME_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  type Frame,
} from './frame.ts';

export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes. Default MAX_FRAME_PAYLOAD_BYTES. */
  maxPayloadBytes?: number;
  /** Message types this end understands; anything else is a protocol error. */
  isKnownType?: (type: number) => boolean;
  /** A type whose payload is a stretch of a byte stream: handed on as it arrives, in pieces. */
  streamedType?: number;
}

export class FrameDecoder {
  readonly #maxPayloadBytes: number;
  readonly #isKnownType: (type: number) => boolean;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;
  readonly #streamedType: number | undefined;
  /** The streamed frame whose payload is still arriving, and how much of it is left. */
  #streaming: { type: number; streamId: number; left: number } | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.#maxPayloadBytes = options.maxPayloadBytes ?? MAX_FRAME_PAYLOAD_BYTES;
    this.#isKnownType = options.isKnownType ?? (() => true);
    this.#streamedType = options.streamedType;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Whether a frame has begun and not ended (its header or part of its payload came). */
  get midFrame(): boolean {
    return this.#buffered > 0 || this.#streaming !== undefined;
  }

  /** Returns the frames completed by this chunk; throws ProtocolError on bad input. */
  push(chunk: Buffer): Frame[] {
    if (this.#failed) throw new ProtocolError('The frame decoder already failed.');
    if (chunk.length === 0) return [];
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const streaming = this.#streaming;
      if (streaming) {
        // As many pieces as have arrived, each the part of one received chunk: no copy.
        while (streaming.left > 0 && this.#buffered > 0) {
          const first = this.#chunks[0]!;
          const payload = this.#consume(Math.min(first.length, streaming.left));
          streaming.left -= payload.length;
          frames.push({ type: streaming.type, streamId: streaming.streamId, payload });
        }
        if (streaming.left > 0) break;
        this.#streaming = undefined;
      }
      if (this.#buffered < FRAME_HEADER_BYTES) break;
      const header = this.#peek(FRAME_HEADER_BYTES);
      const payloadLength = this.#checkHeader(header);
      if (payloadLength > 0 && header.readUInt8(3) === this.#streamedType) {
        this.#consume(FRAME_HEADER_BYTES);
        this.#streaming = {
          type: header.readUInt8(3),
          streamId: header.readUInt32BE(4),
          left: payloadLength,
        };
        continue;
      }
      if (this.#buffered < FRAME_HEADER_BYTES + payloadLength) break;
      this.#consume(FRAME_HEADER_BYTES);
      const payload = payloadLength === 0 ? Buffer.alloc(0) : this.#consume(payloadLength);
      frames.push({ type: header.readUInt8(3), streamId: header.readUInt32BE(4), payload });
    }
    return frames;
  }

  #checkHeader(header: Buffer): number {
    const fail = (
      message: string,
      code?: 'LANFS_ERR_FRAME_TOO_LARGE' | 'LANFS_ERR_UNSUPPORTED_VERSION',
    ): never => {
      this.#failed = true;
      throw new ProtocolError(message, code);
    };
    if (header.readUInt16BE(0) !== FRAME_MAGIC)
      fail('The peer sent bytes that are not a lanfs frame.');
    const version = header.readUInt8(2);
    if (version !== PROTOCOL_VERSION) {
      fail(
        `The peer speaks lanfs protocol version ${version}; this end speaks ${PROTOCOL_VERSION}.`,
        'LANFS_ERR_UNSUPPORTED_VERSION',
      );
    }
    const type = header.readUInt8(3);
    if (!this.#isKnownType(type)) fail(`The peer sent an unknown message type ${type}.`);
    const length = header.readUInt32BE(8);
    if (length > this.#maxPayloadBytes) {
      fail(
        `The peer sent a frame of ${length} bytes; the limit is ${this.#maxPayloadBytes}.`,
        'LANFS_ERR_FRAME_TOO_LARGE',
      );
    }
    return length;
  }

  /** The first n buffered bytes, without consuming them (n <= buffered). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const parts: Buffer[] = [];
    let length = 0;
    for (const chunk of this.#chunks) {
      parts.push(chunk);
      length += chunk.length;
      if (length >= n) break;
    }
    return Buffer.concat(parts, length).subarray(0, n);
  }

  /** Remove and return the first n buffered bytes; zero-copy when they lie in one chunk. */
  #consume(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, take);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }
}
