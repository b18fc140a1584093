/**
 * Scrub (issue 13, RELIABILITY.md A6): every server re-hashes the files it holds
 * in the background, at most --scrub-rate MB/s, and compares them with their
 * records. A copy whose bytes no longer match (a bad sector, a byte flipped by
 * hand, a read error) is repaired from another live holder of the same version:
 * the good bytes are fetched over the peer link (checked against the sha256 on
 * the way), the damaged ones are kept under DIR/.lanfs/quarantine/ and the file
 * is replaced. With no good copy anywhere the damaged one stays where it is —
 * the last copy is never removed or replaced — and is reported as bad.
 *
 * Hashing streams 1 MiB chunks and the rate limiter sleeps between them, so the
 * event loop never waits on a pass. A pass starts FIRST_PASS_AFTER_MS after start,
 * then every SCRUB_INTERVAL_MS, or at once on `lanfs scrub --now` (SCRUB request).
 * What each server found of each file (version, time, ok) is kept in memory and
 * asked for by `show`, the dashboard and `lanfs scrub` (a restart forgets it).
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { BodyOf, ScrubFile, ScrubServer } from '../protocol/messages.ts';
import type { FileRecord } from '../protocol/messages.ts';
import type { Logger } from '../shared/logger.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';
import type { ClusterView } from './cluster-view.ts';
import { DEFAULT_SCRUB_RATE_MBPS } from './defaults.ts';
import type { PeerLinks } from './peer-link.ts';

/** A full pass this often (after the first). */
export const SCRUB_INTERVAL_MS = 24 * 3600 * 1000;
/** The first pass waits this long after start, so a starting cluster first settles. */
export const FIRST_PASS_AFTER_MS = 10 * 60 * 1000;
/** How long to wait before looking again for a copy missing from its path. */
const RECHECK_MISSING_MS = 250;
const CHUNK_BYTES = 1024 * 1024;
/** How far the limiter lets reading run ahead of the rate (a burst, then the rate holds). */
const BURST_MS = 100;
/** How long a peer may take to say what it found (SCRUB with local). */
const PEER_REPORT_TIMEOUT_MS = 5000;

export interface Clock {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Bytes per second at most, on average: take(n) returns once n more bytes fit
 * under the rate since the limiter started (less a burst of BURST_MS). Its
 * accounting (bytes taken, time slept) is public so a test can check the bound
 * without timing anything.
 */
export class ByteRateLimiter {
  readonly #bytesPerMs: number;
  readonly #clock: Clock;
  /** When the bytes taken so far are paid for at the rate. */
  #paidUntil = -Infinity;
  bytes = 0;
  sleptMs = 0;

  constructor(bytesPerSecond: number, clock: Clock = realClock) {
    this.#bytesPerMs = bytesPerSecond / 1000;
    this.#clock = clock;
  }

  async take(n: number): Promise<void> {
    this.bytes += n;
    const now = this.#clock.now();
    this.#paidUntil = Math.max(this.#paidUntil, now) + n / this.#bytesPerMs;
    const wait = this.#paidUntil - now - BURST_MS;
    if (wait > 0) {
      this.sleptMs += wait;
      await this.#clock.sleep(wait);
    }
  }
}

export interface ScrubberOptions {
  catalog: LocalCatalog;
  view: ClusterView;
  /** Links to the other servers (fetching a good copy, asking what they found). */
  peers: PeerLinks;
  logger: Logger;
  /** --scrub-rate, MB/s; 0 turns scrubbing off (lanfs scrub --now still runs a pass). */
  rateMBps: number;
  clock?: Clock;
}

interface PassState {
  startedAt: number;
  endedAt: number | null;
  files: number;
  bytes: number;
  bad: number;
  repaired: number;
}

export type ScrubReport = BodyOf<'SCRUB_RESULT'>;

export class Scrubber {
  readonly #o: ScrubberOptions;
  readonly #verified = new Map<string, ScrubFile>();
  readonly #unrepaired = new Set<string>();
  /** Names a failed read made suspect: checked at once, outside the passes. */
  readonly #suspects = new Set<string>();
  #checkingSuspects = false;
  #pass: PassState | null = null;
  #passes = 0;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #limiter: ByteRateLimiter | undefined;
  /** Since start, for /metrics. */
  readonly totals = { bytes: 0, bad: 0, repaired: 0 };

  constructor(options: ScrubberOptions) {
    this.#o = options;
  }

  get #serverId(): number {
    return this.#o.catalog.serverId;
  }

  /** The bound on reading; a pass asked for with scrubbing off runs at the default rate. */
  #rate(): number {
    return (this.#o.rateMBps > 0 ? this.#o.rateMBps : DEFAULT_SCRUB_RATE_MBPS) * 1_000_000;
  }

  /** The limiter of the running pass (its accounting), for tests. */
  get limiter(): ByteRateLimiter | undefined {
    return this.#limiter;
  }

  start(): void {
    if (this.#o.rateMBps <= 0) return;
    const schedule = (after: number): void => {
      this.#timer = setTimeout(() => {
        this.startPass();
        schedule(SCRUB_INTERVAL_MS);
      }, after).unref();
    };
    schedule(FIRST_PASS_AFTER_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Starts a pass over every file held here, unless one is running. */
  startPass(): void {
    if (this.#running || this.#stopped) return;
    this.#passes++;
    const pass: PassState = {
      startedAt: Date.now(),
      endedAt: null,
      files: 0,
      bytes: 0,
      bad: 0,
      repaired: 0,
    };
    this.#pass = pass;
    this.#limiter = new ByteRateLimiter(this.#rate(), this.#o.clock);
    this.#running = this.#runPass(pass)
      .catch((err: unknown) => this.#o.logger.warn({ err }, 'scrub pass stopped'))
      .finally(() => {
        pass.endedAt = Date.now();
        this.#running = undefined;
        this.#o.logger.info(
          { files: pass.files, bytes: pass.bytes, bad: pass.bad, repaired: pass.repaired },
          'scrub pass done',
        );
      });
  }

  /** Resolves when the pass running now (if any) is over. */
  async idle(): Promise<void> {
    await this.#running;
  }

  /**
   * A read of name failed here (EIO...): check it now, out of turn, so a bad copy
   * is repaired without waiting for the next pass.
   */
  suspect(name: string): void {
    if (this.#stopped) return;
    this.#suspects.add(name);
    if (this.#checkingSuspects) return;
    this.#checkingSuspects = true;
    void (async () => {
      try {
        for (const next of this.#suspects) {
          this.#suspects.delete(next);
          if (this.#stopped) break;
          await this.#check(next, undefined);
        }
      } finally {
        this.#checkingSuspects = false;
      }
    })().catch((err: unknown) => this.#o.logger.warn({ err }, 'scrub of a suspect copy failed'));
  }

  /**
   * A read of name failed on this server: the copy is checked now, and the reader
   * is told another live holder of the same version, if there is one.
   */
  readFailed(name: string): { serverId: number; address: string } | undefined {
    const local = this.#o.catalog.get(name);
    this.suspect(name);
    if (!local) return undefined;
    const other = this.#o.view
      .holders(name)
      .find(
        (h) =>
          h.up &&
          h.id !== this.#serverId &&
          h.record.fileId === local.fileId &&
          h.record.version === local.version,
      );
    const address = other && this.#o.view.member(other.id)?.address;
    return other && address ? { serverId: other.id, address } : undefined;
  }

  async #runPass(pass: PassState): Promise<void> {
    for (const name of [...this.#o.catalog.names()]) {
      if (this.#stopped) return;
      await this.#check(name, pass);
    }
    // Forget what was found of files no longer here.
    for (const name of this.#verified.keys())
      if (!this.#o.catalog.has(name)) this.#verified.delete(name);
    for (const name of this.#unrepaired)
      if (!this.#o.catalog.has(name)) this.#unrepaired.delete(name);
  }

  /** Hashes one file and compares; repairs it if bad. */
  async #check(name: string, pass: PassState | undefined): Promise<void> {
    const record = this.#o.catalog.get(name);
    if (!record) return;
    let sha256: string | undefined;
    let reason: string | undefined;
    // A copy being removed or replaced can be missing from its path for a moment while
    // its record is still there (seen under heavy create/edit/delete): look once more
    // before calling it damaged.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        sha256 = await this.#hash(name, pass);
        reason = undefined;
        break;
      } catch (err) {
        if (!this.#o.catalog.has(name)) return; // deleted meanwhile
        reason = (err as Error).message;
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') break;
        await new Promise((resolve) => setTimeout(resolve, RECHECK_MISSING_MS));
        const now = this.#o.catalog.get(name);
        if (!now || now.version !== record.version || now.sha256 !== record.sha256) return;
      }
    }
    const current = this.#o.catalog.get(name);
    // Changed while being read: the new version was hashed on arrival; check it next pass.
    if (!current || current.version !== record.version || current.sha256 !== record.sha256) return;
    if (pass) pass.files++;
    const ok = sha256 === record.sha256;
    this.#remember(record, ok);
    if (ok) {
      this.#unrepaired.delete(name);
      return;
    }
    this.totals.bad++;
    if (pass) pass.bad++;
    this.#o.logger.error(
      { name, version: record.version, reason: reason ?? 'its bytes do not match its sha256' },
      'scrub found a damaged copy',
    );
    if (await this.#repair(record)) {
      this.totals.repaired++;
      if (pass) pass.repaired++;
    }
  }

  #remember(record: FileRecord, ok: boolean): void {
    this.#verified.set(record.name, {
      name: record.name,
      serverId: this.#serverId,
      version: record.version,
      sha256: record.sha256,
      at: Date.now(),
      ok,
    });
  }

  async #hash(name: string, pass: PassState | undefined): Promise<string> {
    const limiter = this.#limiter ?? new ByteRateLimiter(this.#rate(), this.#o.clock);
    const { handle } = await this.#o.catalog.directory.openForRead(name);
    try {
      const hash = createHash('sha256');
      for await (const chunk of handle.createReadStream({
        highWaterMark: CHUNK_BYTES,
        autoClose: false,
      })) {
        const bytes = chunk as Buffer;
        await limiter.take(bytes.length);
        hash.update(bytes);
        this.totals.bytes += bytes.length;
        if (pass) pass.bytes += bytes.length;
        if (this.#stopped) throw new Error('the server is stopping');
      }
      return hash.digest('hex');
    } finally {
      await handle.close();
    }
  }

  /**
   * Fetches the version from a live holder whose record says the same sha256 and
   * puts it in place of the damaged copy. Never removes the copy otherwise.
   */
  async #repair(record: FileRecord): Promise<boolean> {
    const { catalog, view, peers, logger } = this.#o;
    const sources = view
      .holders(record.name)
      .filter(
        (h) =>
          h.up &&
          h.id !== this.#serverId &&
          h.record.fileId === record.fileId &&
          h.record.version === record.version &&
          h.record.sha256 === record.sha256,
      );
    for (const source of sources) {
      const upload = await catalog.directory.beginUpload();
      try {
        const sink = new Writable({
          write: (chunk: Buffer, _encoding, callback) => {
            upload.write(chunk).then(() => callback(), callback);
          },
        });
        await (await peers.get(source.id)).download(record.name, sink);
      } catch (err) {
        await upload.abort();
        logger.warn(
          { name: record.name, from: source.id, reason: (err as Error).message },
          'could not fetch a good copy',
        );
        continue;
      }
      try {
        const repaired = await catalog.repairCopy(record, upload);
        if (!repaired) return false; // the file moved on meanwhile: the next pass looks again
        this.#remember(repaired.record, true);
        this.#unrepaired.delete(record.name);
        logger.warn(
          { name: record.name, from: source.id, quarantined: repaired.quarantined },
          'damaged copy repaired; its bytes are kept in quarantine',
        );
        return true;
      } catch (err) {
        logger.warn(
          { name: record.name, from: source.id, reason: (err as Error).message },
          'could not repair the damaged copy',
        );
      }
    }
    this.#unrepaired.add(record.name);
    logger.error(
      { name: record.name, version: record.version },
      'no good copy of this file on any live server: the damaged copy is kept as it is',
    );
    return false;
  }

  /** What this server's scrubber is doing and found, and what it found of names. */
  localReport(names: string[]): ScrubReport {
    const pass = this.#pass;
    const server: ScrubServer = {
      serverId: this.#serverId,
      rateMBps: this.#o.rateMBps,
      running: this.#running !== undefined,
      passes: this.#passes,
      pass: pass && { ...pass },
      unrepaired: [...this.#unrepaired].slice(0, 10_000),
    };
    const files: ScrubFile[] = [];
    for (const name of names) {
      const found = this.#verified.get(name);
      if (found) files.push(found);
    }
    return { servers: [server], files };
  }

  /**
   * The answer to a client's SCRUB: this server's report and every live peer's
   * (asked with `local`), a pass started on each first if asked. A peer that does
   * not answer in time is left out.
   */
  async clusterReport(request: BodyOf<'SCRUB'>): Promise<ScrubReport> {
    if (request.start) this.startPass();
    const own = this.localReport(request.names);
    if (request.local) return own;
    const others = await Promise.all(
      this.#o.view
        .liveMembers()
        .filter((m) => m.id !== this.#serverId)
        .map(async (m) => {
          try {
            const link = await this.#o.peers.get(m.id);
            return await withTimeout(
              link.scrub({ ...request, local: true }),
              PEER_REPORT_TIMEOUT_MS,
            );
          } catch (err) {
            this.#o.logger.info(
              { peer: m.id, reason: (err as Error).message },
              'no scrub report from a peer',
            );
            return undefined;
          }
        }),
    );
    const report: ScrubReport = { servers: own.servers, files: own.files };
    for (const other of others) {
      if (!other) continue;
      report.servers.push(...other.servers);
      report.files.push(...other.files);
    }
    report.servers.sort((a, b) => a.serverId - b.serverId);
    return report;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
