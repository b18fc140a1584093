/**
 * How every HTTP front end (the /files API, WebDAV, S3) sends the bytes of a file
 * this server holds: a small file from the catalog's memory, a larger one read a
 * chunk ahead of the socket into buffers given back once written (from 4 MiB, past
 * the page cache: storage/direct-reads.ts), stopping when the client leaves.
 */
import type { ServerResponse } from 'node:http';
import { type Chunk, ChunkReader } from '../service/chunk-reader.ts';
import type { OpenForRead } from '../service/file-service.ts';
import { drained } from './drained.ts';

/**
 * Sends bytes [from, to) of an open file, each chunk read while the socket sends
 * the last (service/chunk-reader.ts), and ends the response. Stops early if the
 * client leaves. Resolves with the bytes sent.
 */
export async function sendFileBytes(
  open: OpenForRead,
  from: number,
  to: number,
  res: ServerResponse,
): Promise<number> {
  if (open.bytes) {
    // A small file the catalog holds in memory: no read at all.
    res.end(open.bytes.subarray(from, to));
    return Math.min(to, open.bytes.length) - from;
  }
  const reader = new ChunkReader(open.handle, from, to, { givesBack: true });
  // The chunks the response holds. Each is given back when its write is done, also when
  // the write fails; and all when the response closes, since Node drops the callback of
  // a write made while the connection goes away (the socket holds nothing by then).
  const held = new Set<Chunk>();
  const send = (chunk: Chunk): boolean => {
    held.add(chunk);
    return res.write(chunk.bytes, () => {
      held.delete(chunk);
      chunk.written();
    });
  };
  res.once('close', () => {
    for (const chunk of held) chunk.written();
    held.clear();
  });
  let sent = 0;
  try {
    for await (const chunk of reader) {
      if (res.destroyed) {
        chunk.written(); // never sent
        break;
      }
      sent += chunk.bytes.length;
      if (!send(chunk) && !reader.done) await drained(res);
    }
  } finally {
    await reader.close(); // never release the descriptor under a read in flight
  }
  res.end();
  return sent;
}
