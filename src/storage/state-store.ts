/**
 * The durable state of one server, in DIR/.lanfs/state.db (SQLite, WAL, fsync on
 * every commit): the server id, and the record of every file this server holds,
 * with the identity of its local bytes (inode, mtime) so that a restart trusts the
 * stored sha256 instead of re-hashing every file. SQLite's journal makes each
 * change all-or-nothing, so a kill -9 at any moment leaves the previous or the
 * next state, never a torn one.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { FileRecord } from '../protocol/messages.ts';
import { StorageError } from '../shared/errors.ts';

/** A record of a file held here, with what identifies its bytes on the local disk. */
export interface StoredRecord extends FileRecord {
  ino: number;
  mtimeMs: number;
}

/**
 * What remains of a deleted file: kept until every server that held it has let
 * go of its copy (`pending`), so a holder that was down during the delete
 * removes its copy when it returns instead of bringing the file back.
 */
export interface Tombstone {
  name: string;
  fileId: string;
  /** The last version the delete covers; a copy at this version or older is deleted. */
  version: number;
  deletedAt: number;
  /** Servers that held the file and have not yet been seen without it. */
  pending: number[];
}

export const STATE_DB_FILE = 'state.db';
const SCHEMA_VERSION = '2';

interface Row {
  name: string;
  record: string;
  ino: number;
  mtime_ms: number;
}

export interface StoreChange {
  put?: StoredRecord[];
  deleted?: string[];
  tombstones?: Tombstone[];
  /** Names whose tombstone is no longer needed. */
  buried?: string[];
}

export class StateStore {
  readonly #db: Database.Database;
  readonly #put: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #putTombstone: Database.Statement;
  readonly #deleteTombstone: Database.Statement;
  #pending: { change: StoreChange; resolve: () => void; reject: (err: Error) => void }[] = [];

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#put = db.prepare(
      'INSERT OR REPLACE INTO records (name, record, ino, mtime_ms) VALUES (@name, @record, @ino, @mtime_ms)',
    );
    this.#delete = db.prepare('DELETE FROM records WHERE name = ?');
    this.#putTombstone = db.prepare(
      'INSERT OR REPLACE INTO tombstones (name, tombstone) VALUES (?, ?)',
    );
    this.#deleteTombstone = db.prepare('DELETE FROM tombstones WHERE name = ?');
  }

  /** Opens (creating if needed) the store in stateDir; refuses a store it cannot read. */
  static open(stateDir: string): StateStore {
    const path = join(stateDir, STATE_DB_FILE);
    try {
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);');
      const version = (
        db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
          { value: string } | undefined
      )?.value;
      if (version !== undefined && version !== SCHEMA_VERSION) {
        throw new StorageError(
          `${path} has state format ${version}; this lanfs reads format ${SCHEMA_VERSION}.`,
        );
      }
      db.exec(`
        CREATE TABLE IF NOT EXISTS records (name TEXT PRIMARY KEY, record TEXT NOT NULL, ino INTEGER NOT NULL, mtime_ms REAL NOT NULL);
        CREATE TABLE IF NOT EXISTS tombstones (name TEXT PRIMARY KEY, tombstone TEXT NOT NULL);`);
      const store = new StateStore(db);
      if (version === undefined) store.setMeta('schema', SCHEMA_VERSION);
      return store;
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(
        `Cannot read the server state in ${path} (${(err as Error).message}); restore it from a backup or move it away to start afresh.`,
        { cause: err },
      );
    }
  }

  getMeta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.#db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  loadRecords(): StoredRecord[] {
    const rows = this.#db.prepare('SELECT * FROM records').all() as Row[];
    return rows.map((row) => ({
      ...(JSON.parse(row.record) as FileRecord),
      ino: row.ino,
      mtimeMs: row.mtime_ms,
    }));
  }

  loadTombstones(): Tombstone[] {
    const rows = this.#db.prepare('SELECT tombstone FROM tombstones').all() as {
      tombstone: string;
    }[];
    return rows.map((row) => JSON.parse(row.tombstone) as Tombstone);
  }

  /**
   * Durably applies a change, sharing one transaction (one fsync) with every
   * other change asked for in the same turn of the event loop: concurrent creates
   * cost one commit between them. Resolves once the change is on disk.
   */
  async commit(change: StoreChange): Promise<void> {
    return await new Promise<void>((resolve, reject) => {
      this.#pending.push({ change, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  /** Applies a change at once, in one transaction (the start-up scan). */
  applyNow(change: StoreChange): void {
    this.#db.transaction(() => this.#apply(change))();
  }

  #apply(change: StoreChange): void {
    for (const record of change.put ?? []) this.#put.run(toRow(record));
    for (const name of change.deleted ?? []) this.#delete.run(name);
    for (const tombstone of change.tombstones ?? [])
      this.#putTombstone.run(tombstone.name, JSON.stringify(tombstone));
    for (const name of change.buried ?? []) this.#deleteTombstone.run(name);
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    try {
      this.#db.transaction(() => {
        for (const { change } of batch) this.#apply(change);
      })();
    } catch (err) {
      const full = (err as { code?: string }).code === 'SQLITE_FULL';
      const error = full
        ? new StorageError(
            "The server's disk is full; free some space on it and try again.",
            { cause: err },
            'LANFS_ERR_DISK_FULL',
          )
        : new StorageError(`The server could not save its records (${(err as Error).message}).`, {
            cause: err,
          });
      for (const change of batch) change.reject(error);
      return;
    }
    for (const change of batch) change.resolve();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function toRow(record: StoredRecord): Row {
  const { ino, mtimeMs, ...rest } = record;
  return { name: record.name, record: JSON.stringify(rest), ino, mtime_ms: mtimeMs };
}
