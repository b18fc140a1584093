/**
 * What a server says when its discovery datagrams cannot be sent. A send that
 * fails is otherwise silent: the server neither hears nor is heard, and looks
 * exactly like one behind a firewall. So the first failure is reported at once,
 * with its cause, a run of failures at most once a REPEAT_MS with its count, and
 * the first success after a run as its end. Pure: it decides what to say; the
 * caller logs it.
 */

/** A run of failures is reported again at most this often. */
export const SEND_FAILURE_REPEAT_MS = 60_000;

export interface SendReport {
  level: 'warn' | 'info';
  msg: string;
  /** Failed sends since the last report (this one included). */
  failures: number;
  error?: string;
  to?: string;
}

/** Why a send may fail where the error code alone says little. */
function hint(code: string | undefined): string {
  if (code === 'ENOBUFS')
    return ' The kernel refused it for want of room, most often a full neighbour (ARP) table: one machine with many hosts, containers or network namespaces shares one table (net.ipv4.neigh.default.gc_thresh3, 1,024 entries by default).';
  if (code === 'EADDRNOTAVAIL' || code === 'ENETUNREACH' || code === 'ENODEV')
    return ' The interface given with --interface may be down or gone.';
  return '';
}

export class SendFailures {
  /** Failed sends not reported yet; -1 while sending works. */
  #unreported = -1;
  /** Failed sends in the current run. */
  #run = 0;
  #reportedAt = 0;

  /** One send ended (error null: it went out); returns what to log, if anything. */
  sent(error: Error | null, to: string, now = Date.now()): SendReport | undefined {
    if (error === null) {
      if (this.#unreported < 0) return undefined;
      const run = this.#run;
      this.#unreported = -1;
      this.#run = 0;
      return {
        level: 'info',
        msg: `discovery datagrams go out again, after ${run} failed sends`,
        failures: run,
        to,
      };
    }
    const code = (error as NodeJS.ErrnoException).code;
    this.#run++;
    if (this.#unreported >= 0 && now - this.#reportedAt < SEND_FAILURE_REPEAT_MS) {
      this.#unreported++;
      return undefined;
    }
    const failures = Math.max(this.#unreported, 0) + 1;
    const first = this.#unreported < 0;
    this.#unreported = 0;
    this.#reportedAt = now;
    return {
      level: 'warn',
      msg: `${first ? 'cannot send' : 'still cannot send'} discovery datagrams (${code ?? error.message}): other servers do not hear this one, nor its answers to clients.${hint(code)}`,
      failures,
      error: error.message,
      to,
    };
  }
}
