/**
 * Discovery on the LAN (SPEC §2.2, §2.3). A server announces itself to the
 * multicast group every ANNOUNCE_INTERVAL_MS and answers clients that ask the
 * group who is there; what it hears of other servers it reports as peers. A
 * client asks the group and collects the answers. Everything heard is a hint:
 * the TCP handshake decides who is in the cluster.
 */
import { randomBytes } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { decodeDatagram, encodeDatagram, ReplayFilter, type Datagram } from './announcement.ts';
import { MulticastBeacon, type GroupAddress } from './multicast-beacon.ts';
import { KERNEL_DROPS_CHECK_MS, KernelDrops, readUdpSendDrops } from './kernel-drops.ts';
import { SendFailures } from './send-failures.ts';

/** How often a server announces itself: a new server is found within about this long. */
export const ANNOUNCE_INTERVAL_MS = 1000;
/** How long a client waits for servers to answer its question. */
export const QUERY_TIMEOUT_MS = 1500;
/** After the first answer, how much longer a client listens for others. */
const QUERY_GRACE_MS = 150;
/** Answers to client queries per second at most: a flood of queries gets no flood back. */
const MAX_REPLIES_PER_SECOND = 50;

/** A token bucket refilled every second. */
class RateLimit {
  readonly #perSecond: number;
  #tokens: number;
  #refilledAt = Date.now();

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
    this.#tokens = perSecond;
  }

  take(): boolean {
    const now = Date.now();
    if (now - this.#refilledAt >= 1000) {
      this.#tokens = this.#perSecond;
      this.#refilledAt = now;
    }
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }
}

export function newInstanceId(): string {
  return randomBytes(8).toString('hex');
}

export interface HeardServer {
  serverId: number;
  instance: string;
  /** host:port of its TCP listener. */
  address: string;
  uptimeMs: number;
}

export interface ServerDiscoveryOptions {
  group: GroupAddress;
  interfaceAddress?: string;
  cluster: string;
  key: string | undefined;
  serverId: number;
  instance: string;
  /** The address to announce; empty means "the address the datagram came from". */
  host: string;
  port: number;
  /** When this server started (performance.now() clock). */
  startedAt: number;
  announceIntervalMs?: number;
  /** Where a failed send is reported (a server that cannot announce itself says so). */
  logger?: DiscoveryLogger;
}

/** The two levels discovery logs at (a pino logger is one). */
export interface DiscoveryLogger {
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
}

function addressOf(datagram: Datagram, from: RemoteInfo): string {
  return `${datagram.host || from.address}:${datagram.port}`;
}

export class ServerDiscovery {
  readonly #options: ServerDiscoveryOptions;
  readonly #beacon: MulticastBeacon;
  readonly #replays = new ReplayFilter();
  readonly #replyBudget = new RateLimit(MAX_REPLIES_PER_SECOND);
  #timer: NodeJS.Timeout | undefined;
  #dropsTimer: NodeJS.Timeout | undefined;
  #onPeer: (server: HeardServer) => void = () => undefined;
  #onDuplicate: (other: HeardServer) => void = () => undefined;

  constructor(options: ServerDiscoveryOptions) {
    this.#options = options;
    this.#beacon = new MulticastBeacon({
      group: options.group,
      interfaceAddress: options.interfaceAddress,
      listenOnGroupPort: true,
    });
    this.#beacon.onDatagram((bytes, from) => this.#receive(bytes, from));
    const failures = new SendFailures();
    const group = `${options.group.address}:${options.group.port}`;
    this.#beacon.onSent((error, to) => {
      // Announcements only: a reply to one client that fails (it left) between
      // announcements that go out would open and end a run of failures each time.
      if (to !== group) return;
      const report = failures.sent(error, to);
      if (report) {
        const { level, msg, ...fields } = report;
        options.logger?.[level](fields, msg);
      }
    });
  }

  /** Called for every authenticated announcement of another server. */
  onPeer(listener: (server: HeardServer) => void): void {
    this.#onPeer = listener;
  }

  /** Called when another live server announces this server's id and was up first. */
  onDuplicate(listener: (other: HeardServer) => void): void {
    this.#onDuplicate = listener;
  }

  async start(): Promise<void> {
    await this.#beacon.start();
    this.announce();
    this.#timer = setInterval(
      () => this.announce(),
      this.#options.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS,
    );
    this.#watchKernelDrops();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#dropsTimer);
    await this.#beacon.stop();
  }

  /** Losses the kernel does not report to the send (see kernel-drops.ts). */
  #watchKernelDrops(): void {
    const logger = this.#options.logger;
    if (!logger) return;
    const drops = new KernelDrops();
    const check = async (): Promise<void> => {
      const report = drops.read(await readUdpSendDrops());
      if (report) logger.warn({ dropped: report.dropped, sinceMs: report.sinceMs }, report.msg);
    };
    void check();
    this.#dropsTimer = setInterval(() => void check(), KERNEL_DROPS_CHECK_MS);
    this.#dropsTimer.unref();
  }

  announce(): void {
    this.#beacon.sendToGroup(this.#datagram('announce'));
  }

  #datagram(kind: 'announce' | 'reply'): Buffer {
    const o = this.#options;
    return encodeDatagram(
      {
        kind,
        cluster: o.cluster,
        serverId: o.serverId,
        instance: o.instance,
        host: o.host,
        port: o.port,
        uptimeMs: Math.round(performance.now() - o.startedAt),
      },
      o.key,
    );
  }

  #receive(bytes: Buffer, from: RemoteInfo): void {
    const o = this.#options;
    // Queries are answered even when their MAC is wrong (rate-limited): the answer is
    // signed with our key, and lets a client with a wrong key learn so from the handshake.
    const datagram = decodeDatagram(bytes, o.key, o.cluster, Date.now(), { unverified: true });
    if (!datagram || !this.#replays.fresh(datagram)) return;
    if (datagram.kind === 'query') {
      if (this.#replyBudget.take())
        this.#beacon.sendTo(this.#datagram('reply'), from.address, from.port);
      return;
    }
    if (!datagram.verified) return;
    if (datagram.serverId === undefined || datagram.instance === o.instance) return;
    const heard = {
      serverId: datagram.serverId,
      instance: datagram.instance,
      address: addressOf(datagram, from),
      uptimeMs: datagram.uptimeMs,
    };
    if (datagram.serverId === o.serverId) {
      // Two live servers with one id: the one that came up last yields.
      if (datagram.uptimeMs > performance.now() - o.startedAt) this.#onDuplicate(heard);
      return;
    }
    this.#onPeer(heard);
  }
}

export interface FindServersOptions {
  group: GroupAddress;
  interfaceAddress?: string;
  cluster: string;
  key: string | undefined;
  timeoutMs?: number;
}

/** Asks the group which servers are there; resolves with their addresses, first answer first. */
export async function findServers(options: FindServersOptions): Promise<string[]> {
  const beacon = new MulticastBeacon({
    group: options.group,
    interfaceAddress: options.interfaceAddress,
    listenOnGroupPort: false,
  });
  const found: string[] = [];
  const unverified: string[] = [];
  const replays = new ReplayFilter();
  await beacon.start();
  try {
    return await new Promise<string[]>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timeout);
        clearTimeout(grace);
        clearInterval(repeat);
        resolve([...found, ...unverified.filter((a) => !found.includes(a))]);
      };
      beacon.onDatagram((bytes, from) => {
        const datagram = decodeDatagram(bytes, options.key, options.cluster, Date.now(), {
          unverified: true,
        });
        if (!datagram || datagram.kind !== 'reply' || !replays.fresh(datagram)) return;
        const address = addressOf(datagram, from);
        // Servers that proved the key come first; the others are tried last, so that
        // the handshake can say "wrong key" rather than "no server".
        const list = datagram.verified ? found : unverified;
        if (!list.includes(address)) list.push(address);
        if (datagram.verified) grace ??= setTimeout(finish, QUERY_GRACE_MS);
      });
      const ask = (): void =>
        beacon.sendToGroup(
          encodeDatagram(
            {
              kind: 'query',
              cluster: options.cluster,
              instance: newInstanceId(),
              host: '',
              port: 0,
              uptimeMs: 0,
            },
            options.key,
          ),
        );
      ask();
      // Datagrams can be lost: ask again a few times within the timeout.
      const repeat = setInterval(ask, 300);
      const timeout = setTimeout(finish, options.timeoutMs ?? QUERY_TIMEOUT_MS);
    });
  } finally {
    await beacon.stop();
  }
}
