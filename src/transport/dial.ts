/**
 * Opening a TCP connection to host:port within a time limit, as a lanfs
 * Connection (the handshake comes next, in handshake.ts); over TLS when the
 * cluster uses it, with the server's certificate checked against the CA.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Connection } from './connection.ts';

/** TLS material (PEM); `ca` checks the other end, `cert`/`key` prove this end. */
export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export async function dialConnection(
  host: string,
  port: number,
  timeoutMs: number,
  tls?: TlsOptions,
): Promise<Connection> {
  return await new Promise<Connection>((resolve, reject) => {
    const socket: Socket = tls
      ? tlsConnect({
          host,
          port,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          rejectUnauthorized: true,
        })
      : connect({ host, port });
    const ready = tls ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(ready, () => {
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
