/**
 * Opening a TCP connection to host:port within a time limit, as a lanfs
 * Connection (the handshake comes next, in handshake.ts).
 */
import { connect } from 'node:net';
import { Connection } from './connection.ts';

export async function dialConnection(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Connection> {
  return await new Promise<Connection>((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new Connection(socket));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : err.message));
    });
  });
}
