/**
 * One server tried step by step for `lanfs doctor`: the TCP connection (TLS
 * included), then the handshake with our credentials. Unlike the client, which
 * only needs the first server that works, this reports how far each one got and
 * why it stopped there.
 */
import { LanfsError } from '../shared/errors.ts';
import { dialConnection } from '../transport/dial.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';
import type { Member } from '../protocol/messages.ts';
import { parseAddress } from './server-connection.ts';

export interface ServerProbe {
  address: string;
  /** Whether a TCP (or TLS) connection could be opened. */
  reached: boolean;
  /** Whether the handshake with our credentials succeeded. */
  handshake: boolean;
  /** The error code when the handshake failed (LANFS_ERR_AUTH_FAILED: another key). */
  errorCode?: string;
  error?: string;
  serverId?: number;
  members?: Member[];
  /** How long the connection and handshake took, in ms. */
  ms: number;
}

export async function probeServer(
  address: string,
  credentials: Credentials,
  timeoutMs: number,
): Promise<ServerProbe> {
  const started = performance.now();
  const took = (): number => Math.round(performance.now() - started);
  let connection;
  try {
    const { host, port } = parseAddress(address);
    connection = await dialConnection(host, port, timeoutMs, credentials.tls);
  } catch (err) {
    return { address, reached: false, handshake: false, error: (err as Error).message, ms: took() };
  }
  try {
    const welcome = await dialHandshake(connection, 'client', credentials, { timeoutMs });
    return {
      address,
      reached: true,
      handshake: true,
      serverId: welcome.serverId,
      members: welcome.members,
      ms: took(),
    };
  } catch (err) {
    return {
      address,
      reached: true,
      handshake: false,
      errorCode: err instanceof LanfsError ? err.code : undefined,
      error: (err as Error).message,
      ms: took(),
    };
  } finally {
    connection.destroy();
  }
}
