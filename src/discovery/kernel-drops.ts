/**
 * Datagrams the kernel dropped after the send said "done". On Linux a UDP
 * datagram dropped for want of buffers or of a neighbour (ARP) entry is not
 * reported to the sender: the send succeeds and only the counter Udp
 * SndbufErrors in /proc/net/snmp grows (per network namespace). A server whose
 * announcements are all lost that way is heard by no one and cannot tell, so
 * discovery looks at that counter now and then and says when it grew. It counts
 * every program's UDP in the namespace, so the warning says "may". Elsewhere
 * than Linux the file is absent and nothing is watched.
 */
import { readFile } from 'node:fs/promises';

/** How often the counter is read. */
export const KERNEL_DROPS_CHECK_MS = 10_000;
/** A growing counter is reported again at most this often. */
export const KERNEL_DROPS_REPEAT_MS = 60_000;

const SNMP_PATH = '/proc/net/snmp';

/** Udp SndbufErrors from the text of /proc/net/snmp; undefined when it is not there. */
export function udpSendDrops(snmp: string): number | undefined {
  const lines = snmp.split('\n').filter((line) => line.startsWith('Udp: '));
  if (lines.length < 2) return undefined;
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1);
  const at = names.indexOf('SndbufErrors');
  const value = at < 0 ? NaN : Number(values[at]);
  return Number.isFinite(value) ? value : undefined;
}

export interface KernelDropsReport {
  /** Datagrams dropped since the last report (or since the watch began). */
  dropped: number;
  sinceMs: number;
  msg: string;
}

/** Decides, from successive readings of the counter, when to say it grew. Pure. */
export class KernelDrops {
  #last: number | undefined;
  #unreported = 0;
  #since = 0;
  #reportedAt = -Infinity;

  /** One reading (undefined: none to be had); returns what to log, if anything. */
  read(counter: number | undefined, now = Date.now()): KernelDropsReport | undefined {
    if (counter === undefined) return undefined;
    const last = this.#last;
    this.#last = counter;
    if (last === undefined) {
      this.#since = now;
      return undefined;
    }
    // A smaller counter: another namespace or a reset; start from it.
    if (counter > last) this.#unreported += counter - last;
    if (this.#unreported === 0 || now - this.#reportedAt < KERNEL_DROPS_REPEAT_MS) return undefined;
    const report = {
      dropped: this.#unreported,
      sinceMs: now - this.#since,
      msg: `the kernel dropped ${this.#unreported} UDP datagrams sent on this host after accepting them (Udp SndbufErrors in ${SNMP_PATH}): this server's announcements may be among them, and then no other server hears it. A usual cause is a full neighbour (ARP) table, "neighbor table overflow" in dmesg: a machine with many hosts, containers or network namespaces shares one (net.ipv4.neigh.default.gc_thresh3, 1,024 entries by default).`,
    };
    this.#unreported = 0;
    this.#since = now;
    this.#reportedAt = now;
    return report;
  }
}

/** Reads the counter now; undefined where there is no /proc/net/snmp. */
export async function readUdpSendDrops(): Promise<number | undefined> {
  try {
    return udpSendDrops(await readFile(SNMP_PATH, 'utf8'));
  } catch {
    return undefined;
  }
}
