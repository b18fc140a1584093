/**
 * Listening to the multicast group for `lanfs doctor`: joins the group on the
 * interface given (or the one the system picks), records every lanfs datagram
 * heard for a while, whatever its cluster, key or clock, and asks the group who
 * is there, recording the answers. Nothing heard here is trusted: it is a report
 * of what reached this machine, so doctor can say why discovery fails.
 */
import type { RemoteInfo } from 'node:dgram';
import { encodeDatagram, inspectDatagram, REPLAY_WINDOW_MS } from './announcement.ts';
import { newInstanceId } from './discovery.ts';
import { MulticastBeacon, type GroupAddress } from './multicast-beacon.ts';

/** One server as heard on the group (its last datagram of a kind). */
export interface HeardOnGroup {
  kind: 'announce' | 'reply';
  serverId: number | undefined;
  /** host:port of its TCP listener. */
  address: string;
  /** Where the datagram came from (address of the sending interface). */
  from: string;
  cluster: string;
  /** Signed with our key (false: another key, or we have none and it has one). */
  keyMatches: boolean;
  /** Its clock minus ours, in ms (from the datagram's timestamp). */
  skewMs: number;
  /** Within the replay window: a server would accept it. */
  withinWindow: boolean;
}

export interface GroupProbe {
  group: string;
  interfaceAddress: string | undefined;
  /** Whether joining the group (binding its port, adding membership) worked. */
  joined: boolean;
  joinError?: string;
  /** Whether a query could be sent to the group (at least one went out). */
  asked: boolean;
  askError?: string;
  announcements: HeardOnGroup[];
  replies: HeardOnGroup[];
}

export interface ProbeGroupOptions {
  group: GroupAddress;
  interfaceAddress?: string;
  cluster: string;
  key: string | undefined;
  /** How long to listen (announcements come every second). */
  listenMs: number;
}

/** Queries are repeated this often while listening: datagrams can be lost. */
const QUERY_EVERY_MS = 500;

export async function probeGroup(options: ProbeGroupOptions): Promise<GroupProbe> {
  const probe: GroupProbe = {
    group: `${options.group.address}:${options.group.port}`,
    interfaceAddress: options.interfaceAddress,
    joined: false,
    asked: false,
    announcements: [],
    replies: [],
  };
  const heard = new Map<string, HeardOnGroup>();
  const record = (bytes: Buffer, from: RemoteInfo, kinds: string[]): void => {
    const inspected = inspectDatagram(bytes, options.key);
    if (!inspected || !kinds.includes(inspected.datagram.kind)) return;
    const d = inspected.datagram;
    const skewMs = d.sentAt - Date.now();
    const entry: HeardOnGroup = {
      kind: d.kind as 'announce' | 'reply',
      serverId: d.serverId,
      address: `${d.host || from.address}:${d.port}`,
      from: from.address,
      cluster: d.cluster,
      keyMatches: inspected.verified,
      skewMs,
      withinWindow: Math.abs(skewMs) <= REPLAY_WINDOW_MS,
    };
    heard.set(`${d.kind}|${d.instance}`, entry);
  };

  const listener = new MulticastBeacon({
    group: options.group,
    interfaceAddress: options.interfaceAddress,
    listenOnGroupPort: true,
  });
  listener.onDatagram((bytes, from) => record(bytes, from, ['announce']));
  const asker = new MulticastBeacon({
    group: options.group,
    interfaceAddress: options.interfaceAddress,
    listenOnGroupPort: false,
  });
  asker.onDatagram((bytes, from) => record(bytes, from, ['reply']));
  // The kernel says whether a query went out only after the send: one that did is
  // enough; otherwise the report says why none did (e.g. ENETUNREACH: no route).
  asker.onSent((error) => {
    if (error === null) {
      probe.asked = true;
      probe.askError = undefined;
    } else if (!probe.asked) probe.askError ??= error.message;
  });
  try {
    try {
      await listener.start();
      probe.joined = true;
    } catch (err) {
      probe.joinError = (err as Error).message;
    }
    let repeat: NodeJS.Timeout | undefined;
    try {
      await asker.start();
      const ask = (): void =>
        asker.sendToGroup(
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
      repeat = setInterval(ask, QUERY_EVERY_MS);
    } catch (err) {
      probe.askError = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, options.listenMs));
    clearInterval(repeat);
  } finally {
    await listener.stop();
    await asker.stop();
  }
  for (const entry of heard.values())
    (entry.kind === 'announce' ? probe.announcements : probe.replies).push(entry);
  const byId = (a: HeardOnGroup, b: HeardOnGroup): number => (a.serverId ?? 0) - (b.serverId ?? 0);
  probe.announcements.sort(byId);
  probe.replies.sort(byId);
  return probe;
}
