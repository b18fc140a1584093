/**
 * The delete brake: a burst of deletes from one client (more than `limit` files,
 * or half of the files of a folder, within a minute) is what a runaway script or
 * a sync from an empty folder looks like. During one, every delete from that
 * client goes to the trash whatever it asked (--purge included), the burst is
 * logged once, and it is listed (status, dashboard) with the command that undoes it.
 */

export const DEFAULT_DELETE_BRAKE = 1000;
const WINDOW_MS = 60_000;
/** Bursts remembered for the dashboard. */
const MAX_BURSTS = 20;
/** A folder of fewer files than this is not judged by the half rule (deleting 1 of 2 is no burst). */
const MIN_FOLDER_FILES = 4;

export interface DeleteBurst {
  host: string;
  since: number;
  lastAt: number;
  deletes: number;
  /** What undoes it. */
  undo: string;
}

export class DeleteBrake {
  readonly #limit: number;
  readonly #recent = new Map<string, { at: number; folder: string }[]>();
  readonly #bursts: DeleteBurst[] = [];

  constructor(limit = DEFAULT_DELETE_BRAKE) {
    this.#limit = limit;
  }

  /**
   * Counts a delete of name by host; true when it is part of a burst (then it
   * must not purge). `filesIn(folder)` is how many files the folder holds now.
   */
  note(
    host: string,
    name: string,
    filesIn: (folder: string) => number,
    now = Date.now(),
  ): {
    braking: boolean;
    started?: DeleteBurst;
  } {
    const folder = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
    const list = (this.#recent.get(host) ?? []).filter((d) => now - d.at < WINDOW_MS);
    list.push({ at: now, folder });
    this.#recent.set(host, list);
    const inFolder = list.filter((d) => d.folder === folder).length;
    const folderTotal = filesIn(folder) + inFolder;
    const braking =
      list.length > this.#limit || (folderTotal >= MIN_FOLDER_FILES && inFolder * 2 > folderTotal);
    if (!braking) return { braking };
    const open = this.#bursts.find((b) => b.host === host && now - b.lastAt < WINDOW_MS);
    if (open) {
      open.lastAt = now;
      open.deletes++;
      return { braking };
    }
    const since = list[0]!.at;
    const burst: DeleteBurst = {
      host,
      since,
      lastAt: now,
      deletes: list.length,
      undo: `lanfs undelete --since ${new Date(since - 1000).toISOString()} --from ${host}`,
    };
    this.#bursts.push(burst);
    if (this.#bursts.length > MAX_BURSTS) this.#bursts.shift();
    return { braking, started: burst };
  }

  bursts(): DeleteBurst[] {
    return [...this.#bursts];
  }
}
