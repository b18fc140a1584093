/**
 * A file this server does not hold, served by this server anyway: the bytes come
 * over the peer link from a live holder (FileService.readRemote) and go out to
 * the HTTP client as they arrive. The dashboard asks for this (`?proxy=1`): a 307
 * to another server's port is another origin, which a page's fetch cannot follow
 * with its key. Plain HTTP clients still get the 307 and a ticket.
 *
 * The last piece of the body is held back until the holder's END proved the whole
 * file matches its sha256, so a client never sees a complete body that is wrong:
 * on a mismatch or a lost holder the response is cut short instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { FileRecord } from '../protocol/messages.ts';
import type { FileService } from '../service/file-service.ts';
import { LanfsError } from '../shared/errors.ts';
import { drained } from './drained.ts';
import { answerFor, type FileAnswer } from './file-response.ts';

/**
 * A client that takes no bytes for this long is dropped: while it waits, the
 * peer link it reads from is paused for every other request on it (copies too).
 */
const STALLED_CLIENT_MS = 4000;

/** Bytes of the holder's stream buffered here before the link waits for the client. */
const BUFFER_BYTES = 1024 * 1024;

/**
 * Sends the file name that server serverId holds. `known` is the newest record
 * this server knows of, enough for HEAD and If-None-Match without asking the
 * holder. Resolves with the status sent and the bytes of body sent; rejects with
 * the holder's NotFound (it no longer holds the file) or Unavailable before any
 * header was sent, and cuts the response short after.
 */
export async function relayDownload(
  req: IncomingMessage,
  res: ServerResponse,
  files: FileService,
  target: { name: string; serverId: number; known: FileRecord },
): Promise<{ status: number; sent: number }> {
  const request = {
    ifNoneMatch: req.headers['if-none-match'],
    ifRange: typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined,
    range: req.headers.range,
  };
  const early = answerFor(target.known, request);
  if (early.status === 304 || req.method === 'HEAD') {
    res.writeHead(early.status, early.headers).end();
    return { status: early.status, sent: 0 };
  }

  let answer: FileAnswer | undefined;
  let position = 0; // offset in the file of the next byte from the holder
  let held: Buffer | undefined;
  let sent = 0;
  const send = async (piece: Buffer): Promise<void> => {
    sent += piece.length;
    if (res.write(piece)) return;
    const timer = setTimeout(() => res.destroy(), STALLED_CLIENT_MS);
    try {
      await drained(res);
    } finally {
      clearTimeout(timer);
    }
  };
  const sink = new Writable({
    highWaterMark: BUFFER_BYTES,
    write: (chunk: Buffer, _encoding, done) => {
      const from = position;
      position += chunk.length;
      if (!answer || !('start' in answer) || res.destroyed) return done(); // nothing to send
      const piece = chunk.subarray(
        Math.max(0, answer.start - from),
        Math.max(0, Math.min(chunk.length, answer.end + 1 - from)),
      );
      if (piece.length === 0) return done();
      const previous = held;
      held = piece;
      if (!previous) return done();
      send(previous).then(() => done(), done);
    },
  });

  try {
    await files.readRemote(target.name, target.serverId, sink, (record) => {
      answer = answerFor(record, request);
      res.writeHead(answer.status, answer.headers);
    });
    sink.end();
    await finished(sink);
  } catch (err) {
    sink.destroy();
    if (res.headersSent) {
      res.destroy();
      return { status: answer?.status ?? 500, sent };
    }
    if (err instanceof LanfsError && err.code === 'LANFS_ERR_NOT_FOUND') throw err;
    throw new LanfsError(
      'LANFS_ERR_UNAVAILABLE',
      `Server ${target.serverId} holds "${target.name}" but could not send it; try again.`,
      { cause: err },
    );
  }
  if (held) sent += held.length;
  res.end(held);
  return { status: answer!.status, sent };
}
