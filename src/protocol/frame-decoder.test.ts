import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../shared/errors.ts';
import {
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
} from './frame.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { isKnownMessageType } from './messages.ts';

const frameArb = fc.record({
  type: fc.integer({ min: 1, max: 19 }),
  streamId: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
});

test('frame decoder - any frames split at any boundaries come out whole and in order', () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
      (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.streamId, f.payload)));
        const decoder = new FrameDecoder();
        const out = [];
        let offset = 0;
        for (let i = 0; offset < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          out.push(...decoder.push(bytes.subarray(offset, offset + n)));
          offset += n;
        }
        assert.deepEqual(
          out.map((f) => ({ type: f.type, streamId: f.streamId, payload: Buffer.from(f.payload) })),
          frames.map((f) => ({ type: f.type, streamId: f.streamId, payload: f.payload })),
        );
        assert.equal(decoder.bufferedBytes, 0);
      },
    ),
  );
});

test('frame decoder - any byte string gives frames or a ProtocolError, never another exception', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      const decoder = new FrameDecoder({ isKnownType: isKnownMessageType });
      try {
        decoder.push(Buffer.from(junk));
      } catch (err) {
        assert.ok(err instanceof ProtocolError, String(err));
      }
    }),
  );
});

test('frame decoder - refuses an absurd length before buffering its payload', () => {
  const decoder = new FrameDecoder();
  const header = encodeFrameHeader(6, 1, 0xffffffff);
  assert.throws(
    () => decoder.push(header),
    (err: ProtocolError) => err.code === 'LANFS_ERR_FRAME_TOO_LARGE',
  );
  const justOver = new FrameDecoder();
  assert.throws(() => justOver.push(encodeFrameHeader(6, 1, MAX_FRAME_PAYLOAD_BYTES + 1)), /limit/);
});

test('frame decoder - bad magic, other version and unknown type are protocol errors', () => {
  assert.throws(
    () => new FrameDecoder().push(Buffer.from('GET / HTTP/1.1\r\n\r\n')),
    /not a lanfs frame/,
  );
  const otherVersion = encodeFrameHeader(6, 1, 0);
  otherVersion.writeUInt8(9, 2);
  assert.throws(
    () => new FrameDecoder().push(otherVersion),
    (err: ProtocolError) => err.code === 'LANFS_ERR_UNSUPPORTED_VERSION',
  );
  assert.throws(
    () => new FrameDecoder({ isKnownType: isKnownMessageType }).push(encodeFrameHeader(200, 1, 0)),
    /unknown message type 200/,
  );
});

test('frame decoder - a truncated frame waits for the rest and is not delivered', () => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame(12, 7, Buffer.alloc(100, 1));
  assert.deepEqual(decoder.push(frame.subarray(0, FRAME_HEADER_BYTES + 50)), []);
  assert.equal(decoder.bufferedBytes, FRAME_HEADER_BYTES + 50);
  assert.equal(decoder.push(frame.subarray(FRAME_HEADER_BYTES + 50)).length, 1);
});

test('frame decoder - a streamed type comes out in the pieces it arrived in, never copied, and the stream of each is whole', () => {
  const STREAMED = 5;
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }),
      (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.streamId, f.payload)));
        const decoder = new FrameDecoder({ streamedType: STREAMED });
        const out: { type: number; streamId: number; payload: Buffer }[] = [];
        let offset = 0;
        for (let i = 0; offset < bytes.length; i++) {
          const chunk = Buffer.from(bytes.subarray(offset, offset + cuts[i % cuts.length]!));
          offset += chunk.length;
          for (const frame of decoder.push(chunk)) {
            // A piece of a streamed payload is a view of the chunk it came in.
            if (frame.type === STREAMED && frame.payload.length > 0)
              assert.equal(frame.payload.buffer, chunk.buffer);
            out.push(frame);
          }
        }
        assert.equal(decoder.midFrame, false);
        // Joined back per frame: each streamed payload's pieces follow each other.
        const joined: typeof out = [];
        let left = 0;
        for (const frame of out) {
          if (frame.type === STREAMED && left > 0) {
            const last = joined[joined.length - 1]!;
            last.payload = Buffer.concat([last.payload, frame.payload]);
            left -= frame.payload.length;
            continue;
          }
          joined.push({ ...frame });
          if (frame.type === STREAMED) {
            const whole = frames[joined.length - 1]!.payload.length;
            left = whole - frame.payload.length;
          }
        }
        assert.deepEqual(
          joined.map((f) => [f.type, f.streamId, f.payload.toString('hex')]),
          frames.map((f) => [f.type, f.streamId, f.payload.toString('hex')]),
        );
      },
    ),
  );
});

test('frame decoder - a streamed frame cut off midway is still mid-frame; its length is checked before any byte', () => {
  const decoder = new FrameDecoder({ streamedType: 5 });
  const frame = encodeFrame(5, 7, Buffer.alloc(1000, 1));
  assert.equal(decoder.push(frame.subarray(0, 600)).length, 1);
  assert.equal(decoder.midFrame, true);
  assert.equal(decoder.bufferedBytes, 0);
  assert.throws(
    () =>
      new FrameDecoder({ streamedType: 5 }).push(
        encodeFrameHeader(5, 1, MAX_FRAME_PAYLOAD_BYTES + 1),
      ),
    (err: ProtocolError) => err.code === 'LANFS_ERR_FRAME_TOO_LARGE',
  );
});
