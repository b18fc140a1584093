/**
 * Disk faults for tests (RELIABILITY.md D1 and issue 13), set by environment
 * variables like the crash points, unset in normal use:
 *
 *   LANFS_FAULT_READ_ERROR=NAME[,NAME…]  the bytes of NAME on this server cannot be read
 *       (EIO), as on a bad sector: the inode found at the first read is marked bad, so
 *       bytes written again (a repair) read fine.
 *   LANFS_FAULT_SLOW_DISK_MS=N  every open for reading (downloads, copies, scrub) waits
 *       N ms first, as a dying or overloaded disk does.
 *
 * A server started with --allow-faults also changes the slow disk while it runs
 * (`lanfs fault slow-disk MS`, issue 15): then every new upload waits as well.
 */
export interface DiskFaults {
  /** Names whose bytes fail to read; the bad inodes are learned at first read. */
  readErrors: Set<string>;
  slowMs: number;
}

export function diskFaultsFromEnv(env: NodeJS.ProcessEnv = process.env): DiskFaults {
  const names = (env.LANFS_FAULT_READ_ERROR ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return { readErrors: new Set(names), slowMs: Number(env.LANFS_FAULT_SLOW_DISK_MS) || 0 };
}

/** Applies the faults to one read of name (whose bytes are inode ino); throws EIO if bad. */
export class DiskFaultInjector {
  readonly #faults: DiskFaults;
  /** name → the inode that is "on the bad sector". */
  readonly #badInodes = new Map<string, number>();

  constructor(faults: DiskFaults) {
    this.#faults = faults;
  }

  get active(): boolean {
    return this.#faults.readErrors.size > 0 || this.#faults.slowMs > 0;
  }

  get slowMs(): number {
    return this.#faults.slowMs;
  }

  /** lanfs fault slow-disk: reads and writes wait this long from now on (0: no more). */
  set slowMs(ms: number) {
    this.#faults.slowMs = ms;
  }

  /** Before a new upload is written: the slow disk makes it wait too. */
  async beforeWrite(): Promise<void> {
    if (this.#faults.slowMs > 0)
      await new Promise((resolve) => setTimeout(resolve, this.#faults.slowMs));
  }

  async beforeRead(name: string, ino: number): Promise<void> {
    if (this.#faults.slowMs > 0)
      await new Promise((resolve) => setTimeout(resolve, this.#faults.slowMs));
    if (!this.#faults.readErrors.has(name)) return;
    const bad = this.#badInodes.get(name);
    if (bad === undefined) this.#badInodes.set(name, ino);
    else if (bad !== ino) return;
    const err = new Error(
      `EIO: i/o error, read '${name}' (LANFS_FAULT_READ_ERROR)`,
    ) as NodeJS.ErrnoException;
    err.code = 'EIO';
    throw err;
  }
}
