/**
 * What a server says when its discovery datagrams cannot be sent (no route to the
 * group, a local firewall's output rule, an interface gone). A send that fails is
 * otherwise silent: the server is heard by no one and looks exactly like one whose
 * datagrams are lost on the way. (Linux does not report every loss: a datagram
 * dropped for want of buffers or of a neighbour entry, ENOBUFS, is only counted in
 * /proc/net/snmp's Udp SndbufErrors, and the send succeeds.) So the first failure is reported at once,
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
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH')
    return ' There is no route to the group: give --interface (an address of this machine on the LAN), or add a route for 224.0.0.0/4.';
  if (code === 'EPERM' || code === 'EACCES')
    return ' A firewall on this machine refuses it (a rule on outgoing packets).';
  if (code === 'EADDRNOTAVAIL' || code === 'ENODEV')
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
