/**
 * What this server last learned from each other member (DIR/.lanfs/peers.snapshot):
 * the member's address, when it was last seen, the records of the files it held
 * and the tombstones it kept. A server restarted while others are down lists their
 * files from it (as unavailable) instead of forgetting them. It is a copy of what
 * the others own, not this server's state: the member's fresh list replaces it when
 * it is back. Written like the state snapshot (beside, flushed, renamed over, one
 * JSON value a line, in slices that let other work run); a damaged one is dropped
 * whole, since half of it could miss the tombstone of a deleted file.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import {
  fileRecordSchema,
  tombstoneSchema,
  type FileRecord,
  type TombstoneRef,
} from '../protocol/messages.ts';
import { storageError, syncDir } from './data-directory.ts';

export const PEER_RECORDS_FILE = 'peers.snapshot';
const FORMAT = 'lanfs-peers/1';
const LINES_PER_SLICE = 2000;

export interface SavedMember {
  id: number;
  address: string;
  /** When it was last seen up (Date.now()), or when this server stopped if it was up then. */
  lastSeen: number;
  records: FileRecord[];
  tombstones: TombstoneRef[];
}

const memberLine = z.object({
  id: z.number().int().positive(),
  address: z.string(),
  lastSeen: z.number(),
});

const line = z.union([
  z.object({ format: z.literal(FORMAT) }),
  z.object({ member: memberLine }),
  z.object({ r: fileRecordSchema }),
  z.object({ t: tombstoneSchema }),
  z.object({ end: z.number().int() }),
]);

/**
 * Reads the saved members; [] if there is no file. Throws a sentence-ready Error
 * for a damaged one (the caller logs it and starts without).
 */
export async function readPeerRecords(stateDir: string): Promise<SavedMember[]> {
  const path = join(stateDir, PEER_RECORDS_FILE);
  const exists = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!exists) return [];
  const members: SavedMember[] = [];
  let lines = 0;
  let ended = false;
  const input = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const text of input) {
    const value = line.parse(JSON.parse(text));
    const current = members.at(-1);
    if (lines++ === 0) {
      if (!('format' in value)) throw new Error(`${path} is not a ${FORMAT} file`);
    } else if ('member' in value) members.push({ ...value.member, records: [], tombstones: [] });
    else if ('r' in value && current) current.records.push(value.r);
    else if ('t' in value && current) current.tombstones.push(value.t);
    else if ('end' in value && value.end === lines - 2) ended = true;
    else throw new Error(`${path} has a line out of place (line ${lines})`);
  }
  if (!ended) throw new Error(`${path} is cut short`);
  return members;
}

/** Replaces the saved members durably (a crash leaves the old file or the new one). */
export async function writePeerRecords(stateDir: string, members: SavedMember[]): Promise<void> {
  const path = join(stateDir, PEER_RECORDS_FILE);
  const temp = `${path}.new`;
  try {
    const handle = await open(temp, 'w');
    try {
      let slice: string[] = [`${JSON.stringify({ format: FORMAT })}\n`];
      let count = 0;
      const lines = function* (): Generator<string> {
        for (const { records, tombstones, ...member } of members) {
          yield `${JSON.stringify({ member })}\n`;
          for (const r of records) yield `${JSON.stringify({ r })}\n`;
          for (const t of tombstones) yield `${JSON.stringify({ t })}\n`;
        }
      };
      for (const text of lines()) {
        slice.push(text);
        count++;
        if (slice.length >= LINES_PER_SLICE) {
          await handle.write(slice.join(''));
          slice = [];
        }
      }
      slice.push(`${JSON.stringify({ end: count })}\n`);
      await handle.write(slice.join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await syncDir(stateDir);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw storageError(err, `saving ${path}`);
  }
}
