/**
 * Low-level access to a server for tests that must send what a well-behaved
 * client never would: raw sockets, and authenticated connections on which the
 * test writes frames by hand.
 */
import { connect, type Socket } from 'node:net';
import { Connection } from '../../src/transport/connection.ts';
import { dialHandshake } from '../../src/transport/handshake.ts';

export async function rawSocket(port: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with everything the server sent once it closes the socket (or after timeoutMs). */
export async function readUntilClosed(
  socket: Socket,
  timeoutMs = 15_000,
): Promise<{ bytes: Buffer; closedByServer: boolean }> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const closedByServer = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.destroy();
  return { bytes: Buffer.concat(chunks), closedByServer };
}

/** A connection that has passed the handshake, for writing frames by hand. */
export async function authenticatedConnection(port: number, key: string): Promise<Connection> {
  const connection = new Connection(await rawSocket(port));
  await dialHandshake(connection, 'client', { key, insecure: false, cluster: 'lanfs' });
  return connection;
}
