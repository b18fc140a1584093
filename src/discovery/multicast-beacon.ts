/**
 * The UDP socket of discovery: joins the multicast group on one interface, sends
 * datagrams to the group or to one address, and hands what it receives to a
 * listener. It knows nothing of what the datagrams mean (see discovery.ts).
 * Multicast never leaves the interface it is given (TTL 1: the local network).
 * How each send ended (the kernel says so after the call) goes to the onSent
 * listener: a server that cannot announce itself must be able to say so.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { UsageError } from '../shared/errors.ts';

export const DEFAULT_GROUP = '239.255.76.83:7654';

export interface GroupAddress {
  address: string;
  port: number;
}

export function parseGroup(group: string): GroupAddress {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(group.trim());
  const first = match ? Number(match[1]!.split('.')[0]) : 0;
  const port = match ? Number(match[2]) : 0;
  if (!match || first < 224 || first > 239 || port < 1 || port > 65535) {
    throw new UsageError(
      `"${group}" is not a multicast group; write it as ADDR:PORT with ADDR in 224.0.0.0–239.255.255.255, e.g. ${DEFAULT_GROUP}.`,
    );
  }
  return { address: match[1]!, port };
}

export interface BeaconOptions {
  group: GroupAddress;
  /** Address of the interface to use (--interface); undefined lets the system choose. */
  interfaceAddress?: string;
  /** Bind the group port (servers) or an ephemeral one (clients asking the group). */
  listenOnGroupPort: boolean;
}

export class MulticastBeacon {
  readonly #options: BeaconOptions;
  readonly #socket: Socket;
  #listener: ((bytes: Buffer, from: RemoteInfo) => void) | undefined;
  #sendListener: ((error: Error | null, to: string) => void) | undefined;

  constructor(options: BeaconOptions) {
    this.#options = options;
    this.#socket = createSocket({ type: 'udp4', reuseAddr: true });
    this.#socket.on('message', (bytes, from) => this.#listener?.(bytes, from));
    // A bad datagram never stops a server (send errors go to the send listener instead).
    this.#socket.on('error', () => undefined);
  }

  onDatagram(listener: (bytes: Buffer, from: RemoteInfo) => void): void {
    this.#listener = listener;
  }

  /** Told how every send ended: error null when the kernel took the datagram. */
  onSent(listener: (error: Error | null, to: string) => void): void {
    this.#sendListener = listener;
  }

  async start(): Promise<void> {
    const { group, interfaceAddress, listenOnGroupPort } = this.#options;
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(listenOnGroupPort ? group.port : 0, () => {
        this.#socket.off('error', reject);
        resolve();
      });
    });
    if (listenOnGroupPort) this.#socket.addMembership(group.address, interfaceAddress);
    if (interfaceAddress) this.#socket.setMulticastInterface(interfaceAddress);
    this.#socket.setMulticastTTL(1);
    this.#socket.setMulticastLoopback(true);
  }

  sendToGroup(bytes: Buffer): void {
    this.sendTo(bytes, this.#options.group.address, this.#options.group.port);
  }

  sendTo(bytes: Buffer, address: string, port: number): void {
    // With a callback, dgram reports a failed send there and not as an 'error' event.
    this.#socket.send(bytes, port, address, (error) =>
      this.#sendListener?.(error ?? null, `${address}:${port}`),
    );
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
