/**
 * The frame: the unit of the lanfs wire protocol (docs/PROTOCOL.md has the byte table).
 *
 *   0  magic "LF" (2 bytes)   2  protocol version (u8)   3  message type (u8)
 *   4  stream id (u32 BE)     8  payload length (u32 BE)  12 payload
 *
 * A stream id ties together the frames of one request on a connection (a request,
 * its data frames, its answer), so several requests can share one connection.
 * Stream 0 is the connection itself (handshake, fatal errors).
 */

export const FRAME_MAGIC = 0x4c46; // "LF"
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 12;
/** Largest payload of any frame. Data frames are smaller (DATA_CHUNK_BYTES); control
 *  payloads (JSON) stay far below this, and a list of records is sent in pages. */
export const MAX_FRAME_PAYLOAD_BYTES = 1024 * 1024;
/** Size of the data frames a file body is cut into: big enough that per-frame work is
 *  amortised, small enough that one stream does not hold a connection for long. */
export const DATA_CHUNK_BYTES = 256 * 1024;

export interface Frame {
  type: number;
  streamId: number;
  payload: Buffer;
}

export function encodeFrameHeader(type: number, streamId: number, payloadLength: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt16BE(FRAME_MAGIC, 0);
  header.writeUInt8(PROTOCOL_VERSION, 2);
  header.writeUInt8(type, 3);
  header.writeUInt32BE(streamId, 4);
  header.writeUInt32BE(payloadLength, 8);
  return header;
}

/** One buffer holding header and payload; for small frames. */
export function encodeFrame(type: number, streamId: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD_BYTES) {
    throw new RangeError(
      `frame payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD_BYTES}`,
    );
  }
  return Buffer.concat([encodeFrameHeader(type, streamId, payload.length), payload]);
}
