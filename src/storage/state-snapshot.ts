/**
 * The snapshot of a server's state (DIR/.lanfs/state.snapshot): every record,
 * tombstone and setting at the time of a checkpoint, and the first journal
 * segment it does not cover. It is replaced whole (written beside, flushed,
 * renamed over, folder flushed), so a crash leaves the old snapshot or the new
 * one. One JSON value per line, so neither writing nor reading holds it all as
 * one string, and the writer yields to the event loop between slices.
 */
import { createReadStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { StorageError } from '../shared/errors.ts';
import { storageError, syncDir } from './data-directory.ts';
import type { KeptEntry, StoredRecord, Tombstone } from './state-store.ts';

export const SNAPSHOT_FILE = 'state.snapshot';
const FORMAT = 'lanfs-state/1';
/** Lines written per slice before the writer lets other work run. */
const LINES_PER_SLICE = 2000;

export interface StateImage {
  /** The first journal segment whose entries are not in this snapshot. */
  segment: number;
  meta: Map<string, string>;
  records: Map<string, StoredRecord>;
  /**
   * Tombstones by name, then by fileId: one per deleted file, so a name deleted, made
   * anew and deleted again keeps the first file's tombstone until its holders let go.
   */
  tombstones: Map<string, Map<string, Tombstone>>;
  /** Kept versions and trash entries, by key (storage/version-store.ts). */
  kept: Map<string, KeptEntry>;
}

/** Reads the snapshot; undefined if there is none yet. A damaged one is an error, never "empty". */
export async function readSnapshot(stateDir: string): Promise<StateImage | undefined> {
  const path = join(stateDir, SNAPSHOT_FILE);
  const exists = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw storageError(err, `reading ${path}`);
  });
  if (!exists) return undefined;
  const image: StateImage = {
    segment: 0,
    meta: new Map(),
    records: new Map(),
    tombstones: new Map(),
    kept: new Map(),
  };
  let lines = 0;
  let ended = false;
  try {
    const input = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const line of input) {
      const value = JSON.parse(line) as {
        format?: string;
        segment?: number;
        meta?: Record<string, string>;
        r?: StoredRecord;
        t?: Tombstone;
        k?: KeptEntry;
        end?: number;
      };
      if (lines++ === 0) {
        if (value.format !== FORMAT || typeof value.segment !== 'number')
          throw new Error(`not a ${FORMAT} snapshot`);
        image.segment = value.segment;
        image.meta = new Map(Object.entries(value.meta ?? {}));
      } else if (value.r) image.records.set(value.r.name, value.r);
      else if (value.t) keepTombstone(image.tombstones, value.t);
      else if (value.k) image.kept.set(value.k.key, value.k);
      else if (value.end !== undefined) {
        if (value.end !== lines - 2) throw new Error('the snapshot lost lines');
        ended = true;
      }
    }
    if (!ended) throw new Error('the snapshot is cut short');
  } catch (err) {
    throw new StorageError(
      `Cannot read the server state in ${path} (${(err as Error).message}); restore it from a backup or move it away to start afresh.`,
      { cause: err },
    );
  }
  return image;
}

/** Writes a new snapshot durably in place of the old one. Returns its size in bytes. */
export async function writeSnapshot(stateDir: string, image: StateImage): Promise<number> {
  const path = join(stateDir, SNAPSHOT_FILE);
  const temp = `${path}.new`;
  let bytes = 0;
  try {
    const handle = await open(temp, 'w');
    try {
      const write = async (lines: string[]): Promise<void> => {
        const chunk = Buffer.from(lines.join(''));
        bytes += chunk.length;
        await handle.write(chunk);
      };
      await write([
        `${JSON.stringify({ format: FORMAT, segment: image.segment, meta: Object.fromEntries(image.meta) })}\n`,
      ]);
      let slice: string[] = [];
      let count = 0;
      const lines = function* (): Generator<string> {
        for (const r of image.records.values()) yield `${JSON.stringify({ r })}\n`;
        for (const ofName of image.tombstones.values())
          for (const t of ofName.values()) yield `${JSON.stringify({ t })}\n`;
        for (const k of image.kept.values()) yield `${JSON.stringify({ k })}\n`;
      };
      for (const line of lines()) {
        slice.push(line);
        count++;
        if (slice.length >= LINES_PER_SLICE) {
          await write(slice);
          slice = [];
        }
      }
      slice.push(`${JSON.stringify({ end: count })}\n`);
      await write(slice);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await syncDir(stateDir);
  } catch (err) {
    throw storageError(err, 'saving a checkpoint of the server state');
  }
  return bytes;
}

/** Puts a tombstone among those of its name (replacing the same file's earlier one). */
export function keepTombstone(
  tombstones: Map<string, Map<string, Tombstone>>,
  tombstone: Tombstone,
): void {
  const ofName = tombstones.get(tombstone.name) ?? new Map<string, Tombstone>();
  ofName.set(tombstone.fileId, tombstone);
  tombstones.set(tombstone.name, ofName);
}
