/**
 * Keeps what this server learned from the other members across its restarts
 * (storage/peer-records-snapshot.ts): at start the records and tombstones each
 * member held when last heard are put back into the cluster view, so a server
 * restarted while others are down still lists their files, as unavailable. While
 * running, every change of the view is saved again, at most once per interval
 * and in the background (the write runs on the I/O threads, in slices); a
 * member's fresh list replaces what was kept the moment it is back.
 */
import type { Logger } from '../shared/logger.ts';
import {
  readPeerRecords,
  writePeerRecords,
  type SavedMember,
} from '../storage/peer-records-snapshot.ts';
import type { ClusterView } from './cluster-view.ts';

/** Least time between two saves; a slow save (many records) spaces them more. */
const MIN_SAVE_INTERVAL_MS = 1000;
/** A save may take at most this share of the time (10%). */
const SAVE_TIME_FACTOR = 10;

export interface KeptViewOptions {
  view: ClusterView;
  /** DIR/.lanfs */
  stateDir: string;
  logger: Logger;
}

export class KeptView {
  readonly #o: KeptViewOptions;
  #timer: NodeJS.Timeout | undefined;
  #saving: Promise<void> | undefined;
  #changed = false;
  #started = false;
  #stopped = false;
  #lastSaveMs = 0;

  constructor(options: KeptViewOptions) {
    this.#o = options;
  }

  /** Puts the saved members into the view; returns how many. Call before any link opens. */
  async restore(): Promise<number> {
    let saved: SavedMember[];
    try {
      saved = await readPeerRecords(this.#o.stateDir);
    } catch (err) {
      // Only a copy of what others own: they send it again when they are back.
      this.#o.logger.warn(
        { reason: (err as Error).message },
        'the records kept from other servers are unreadable; starting without them',
      );
      return 0;
    }
    for (const member of saved) this.#o.view.restoreMember(member);
    return saved.length;
  }

  /** Saves again whenever the view changes. */
  start(): void {
    this.#started = true;
    const changed = (): void => this.#changedNow();
    this.#o.view.onNameChange(changed);
    this.#o.view.onMemberChange(changed);
  }

  /** Saves one last time (when each member was last seen), then no more. */
  async stop(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#saving;
    await this.#save();
  }

  #changedNow(): void {
    if (this.#stopped) return;
    this.#changed = true;
    if (this.#timer || this.#saving) return;
    const delay = Math.max(MIN_SAVE_INTERVAL_MS, this.#lastSaveMs * SAVE_TIME_FACTOR);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#saving = this.#save().finally(() => {
        this.#saving = undefined;
        if (this.#changed) this.#changedNow();
      });
    }, delay);
    this.#timer.unref();
  }

  async #save(): Promise<void> {
    this.#changed = false;
    const now = Date.now();
    // Arrays of the records as they are now: later changes wait for the next save.
    const members: SavedMember[] = this.#o.view.members().map((m) => ({
      id: m.id,
      address: m.address,
      lastSeen: m.up ? now : (m.downSince ?? now),
      records: [...m.records.values()],
      tombstones: [...m.tombstones.values()].flat(),
    }));
    const started = performance.now();
    try {
      await writePeerRecords(this.#o.stateDir, members);
    } catch (err) {
      this.#changed = true; // try again with the next change
      this.#o.logger.warn(
        { reason: (err as Error).message },
        'could not save the records learned from other servers',
      );
    }
    this.#lastSaveMs = performance.now() - started;
  }
}
