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

export const STATE_DB_FILE = 'state.db';
const SCHEMA_VERSION = '1';

interface Row {
  name: string;
  size: number;
  sha256: string;
  version: number;
  primary_id: number;
  replicas: string;
  modified_at: number;
  ino: number;
  mtime_ms: number;
}

export class StateStore {
  readonly #db: Database.Database;
  readonly #put: Database.Statement;
  readonly #delete: Database.Statement;
  #pending: {
    put: StoredRecord[];
    deleted: string[];
    resolve: () => void;
    reject: (err: Error) => void;
  }[] = [];

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#put = db.prepare(
      `INSERT OR REPLACE INTO records (name, size, sha256, version, primary_id, replicas, modified_at, ino, mtime_ms)
       VALUES (@name, @size, @sha256, @version, @primary_id, @replicas, @modified_at, @ino, @mtime_ms)`,
    );
    this.#delete = db.prepare('DELETE FROM records WHERE name = ?');
  }

  /** Opens (creating if needed) the store in stateDir; refuses a store it cannot read. */
  static open(stateDir: string): StateStore {
    const path = join(stateDir, STATE_DB_FILE);
    try {
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS records (
          name TEXT PRIMARY KEY, size INTEGER NOT NULL, sha256 TEXT NOT NULL, version INTEGER NOT NULL,
          primary_id INTEGER NOT NULL, replicas TEXT NOT NULL, modified_at INTEGER NOT NULL,
          ino INTEGER NOT NULL, mtime_ms REAL NOT NULL
        );`);
      const store = new StateStore(db);
      const version = store.getMeta('schema');
      if (version === undefined) store.setMeta('schema', SCHEMA_VERSION);
      else if (version !== SCHEMA_VERSION) {
        throw new StorageError(
          `${path} has state format ${version}; this lanfs reads format ${SCHEMA_VERSION}.`,
        );
      }
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
      name: row.name,
      size: row.size,
      sha256: row.sha256,
      version: row.version,
      primary: row.primary_id,
      replicas: JSON.parse(row.replicas) as number[],
      modifiedAt: row.modified_at,
      ino: row.ino,
      mtimeMs: row.mtime_ms,
    }));
  }

  putRecord(record: StoredRecord): void {
    this.#put.run(toRow(record));
  }

  deleteRecord(name: string): void {
    this.#delete.run(name);
  }

  /**
   * Durably records changes, sharing one transaction (one fsync) with every other
   * change asked for in the same turn of the event loop: concurrent creates cost
   * one commit between them. Resolves once the changes are on disk.
   */
  async commit(put: StoredRecord[], deleted: string[]): Promise<void> {
    return await new Promise<void>((resolve, reject) => {
      this.#pending.push({ put, deleted, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    try {
      this.#db.transaction(() => {
        for (const change of batch) {
          for (const record of change.put) this.#put.run(toRow(record));
          for (const name of change.deleted) this.#delete.run(name);
        }
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

  /** Several changes in one transaction (one fsync), e.g. the result of the start-up scan. */
  applyChanges(put: StoredRecord[], deleted: string[]): void {
    this.#db.transaction(() => {
      for (const record of put) this.#put.run(toRow(record));
      for (const name of deleted) this.#delete.run(name);
    })();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function toRow(record: StoredRecord): Row {
  return {
    name: record.name,
    size: record.size,
    sha256: record.sha256,
    version: record.version,
    primary_id: record.primary,
    replicas: JSON.stringify(record.replicas),
    modified_at: record.modifiedAt,
    ino: record.ino,
    mtime_ms: record.mtimeMs,
  };
}
