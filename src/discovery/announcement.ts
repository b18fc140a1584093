/**
 * The datagrams of discovery (pure: bytes in, checked messages out). A server
 * announces itself to the group; a client asks the group who is there and the
 * servers answer it directly. Every datagram carries the cluster name and an
 * HMAC under the cluster key, so servers of another cluster or without the key
 * are ignored; a timestamp window and a cache of recent nonces drop replays.
 * An announcement is only a hint: the TCP handshake authenticates for real.
 *
 *   "LFD1" (4 bytes) | JSON body | HMAC-SHA256 (32 bytes)
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

const MAGIC = Buffer.from('LFD1');
const MAC_BYTES = 32;
/** Datagrams larger than this are not lanfs discovery (and are never parsed). */
export const MAX_DATAGRAM_BYTES = 1400;
/** How far a datagram's timestamp may be from our clock. Only for replay protection of
 *  hints; no decision about data depends on it. */
export const REPLAY_WINDOW_MS = 30_000;

const bodySchema = z.object({
  kind: z.enum(['announce', 'query', 'reply']),
  cluster: z.string().max(200),
  /** The sender's server id (absent in a client's query). */
  serverId: z.number().int().positive().optional(),
  /** Random per start of a server: tells a restart from a replay, and two servers with one id apart. */
  instance: z.string().regex(/^[0-9a-f]{8,64}$/),
  /** Where the sender's TCP port listens; empty host means "the address this came from". */
  host: z.string().max(100),
  port: z.number().int().min(0).max(65535),
  /** How long the sender has been up: with two live servers of one id, the newer one yields. */
  uptimeMs: z.number().int().nonnegative(),
  sentAt: z.number().int(),
  nonce: z.string().regex(/^[0-9a-f]{16,64}$/),
});

export type Datagram = z.infer<typeof bodySchema>;

function mac(key: string, body: Buffer): Buffer {
  return createHmac('sha256', `lanfs-discovery|${key}`).update(body).digest();
}

/** key is undefined for an --insecure cluster: the MAC is then keyed by the empty key. */
export function encodeDatagram(
  datagram: Omit<Datagram, 'nonce' | 'sentAt'>,
  key: string | undefined,
  now = Date.now(),
): Buffer {
  const body = Buffer.from(
    JSON.stringify({ ...datagram, sentAt: now, nonce: randomBytes(8).toString('hex') }),
  );
  return Buffer.concat([MAGIC, body, mac(key ?? '', body)]);
}

/**
 * Parses and authenticates a datagram; null for anything that is not a valid one
 * of this cluster. With `unverified` a datagram whose MAC does not match is still
 * returned, marked so: a client with a wrong key uses such answers only to reach a
 * server whose handshake then tells it precisely what is wrong.
 */
export function decodeDatagram(
  bytes: Buffer,
  key: string | undefined,
  cluster: string,
  now = Date.now(),
  options: { unverified?: boolean } = {},
): (Datagram & { verified: boolean }) | null {
  if (bytes.length > MAX_DATAGRAM_BYTES || bytes.length < MAGIC.length + MAC_BYTES + 2) return null;
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const body = bytes.subarray(MAGIC.length, bytes.length - MAC_BYTES);
  const verified = timingSafeEqual(mac(key ?? '', body), bytes.subarray(bytes.length - MAC_BYTES));
  if (!verified && !options.unverified) return null;
  let parsed: Datagram;
  try {
    const result = bodySchema.safeParse(JSON.parse(body.toString('utf8')));
    if (!result.success) return null;
    parsed = result.data;
  } catch {
    return null;
  }
  if (parsed.cluster !== cluster) return null;
  if (Math.abs(now - parsed.sentAt) > REPLAY_WINDOW_MS) return null;
  return { ...parsed, verified };
}

/** Remembers the nonces of recent datagrams so a replayed one is seen as such. */
export class ReplayFilter {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries = 10_000) {
    this.#maxEntries = maxEntries;
  }

  /** True the first time a nonce is seen within the replay window. */
  fresh(datagram: Datagram, now = Date.now()): boolean {
    if (this.#seen.has(datagram.nonce)) return false;
    if (this.#seen.size >= this.#maxEntries) {
      for (const [nonce, at] of this.#seen) {
        if (now - at > 2 * REPLAY_WINDOW_MS || this.#seen.size >= this.#maxEntries)
          this.#seen.delete(nonce);
        else break;
      }
    }
    this.#seen.set(datagram.nonce, now);
    return true;
  }
}

/**
 * What a datagram says, whatever its cluster, key or age: for `lanfs doctor`,
 * which must tell "signed with another key" or "a clock 40 s off" from silence.
 * Never used to decide anything; null only for what is not lanfs discovery at all.
 */
export function inspectDatagram(
  bytes: Buffer,
  key: string | undefined,
): { datagram: Datagram; verified: boolean } | null {
  if (bytes.length > MAX_DATAGRAM_BYTES || bytes.length < MAGIC.length + MAC_BYTES + 2) return null;
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const body = bytes.subarray(MAGIC.length, bytes.length - MAC_BYTES);
  const verified = timingSafeEqual(mac(key ?? '', body), bytes.subarray(bytes.length - MAC_BYTES));
  try {
    const result = bodySchema.safeParse(JSON.parse(body.toString('utf8')));
    return result.success ? { datagram: result.data, verified } : null;
  } catch {
    return null;
  }
}
