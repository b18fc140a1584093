/**
 * The opening of every connection (SPEC §2.2, §2.3): the dialer says who it is
 * (client or server) and which protocol it speaks, and both ends prove they know
 * the cluster key by challenge-response. Nothing else is read from a connection
 * before this succeeds.
 *
 *   dialer → HELLO {role, protocol, cluster, nonce}
 *   acceptor → CHALLENGE {serverId, nonce, proof}   (or ERROR)
 *   dialer → AUTH {proof}
 *   acceptor → WELCOME {...}                         (or ERROR, then close)
 */
import { computeProof, newNonce, proofsEqual } from '../protocol/auth.ts';
import { PROTOCOL_VERSION } from '../protocol/frame.ts';
import type { BodyOf, Message } from '../protocol/messages.ts';
import { AuthError, errorFromWire, ProtocolError, type LanfsError } from '../shared/errors.ts';
import type { Connection } from './connection.ts';
import type { TlsOptions } from './dial.ts';

/** How long either side waits for each handshake message. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface Credentials {
  /** The cluster key; undefined only with insecure. */
  key: string | undefined;
  insecure: boolean;
  cluster: string;
  /** TLS for every connection (--tls-cert, --tls-key, --tls-ca); absent: plain TCP. */
  tls?: TlsOptions;
  /** Where the key came from ("--key", "LANFS_KEY", "--key-file PATH"): named when it is wrong. */
  keySource?: string;
}

function expect<K extends Message['type']>(
  message: Message,
  type: K,
): Extract<Message, { type: K }> {
  if (message.type === 'ERROR') throw errorFromWire(message.body.code, message.body.message);
  if (message.type !== type)
    throw new ProtocolError(`Expected ${type} during the handshake but got ${message.type}.`);
  return message as Extract<Message, { type: K }>;
}

/** Dialer side. Resolves with the acceptor's WELCOME; throws AuthError / ProtocolError. */
export async function dialHandshake(
  connection: Connection,
  role: 'client' | 'server' | 'replicator',
  credentials: Credentials,
  options: { serverId?: number; instance?: string; address?: string; timeoutMs?: number } = {},
): Promise<BodyOf<'WELCOME'>> {
  const timeoutMs = options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const nonce = newNonce();
  connection.send('HELLO', 0, {
    role,
    protocol: PROTOCOL_VERSION,
    cluster: credentials.cluster,
    nonce,
    serverId: options.serverId,
    instance: options.instance,
    address: options.address,
  });
  const challenge = expect(await connection.receive(timeoutMs), 'CHALLENGE').body;
  let proof: string | null = null;
  if (!challenge.insecure) {
    if (credentials.key === undefined) {
      throw new AuthError(
        'LANFS_ERR_AUTH_REQUIRED',
        'The server needs the cluster key: pass --key or --key-file, or set LANFS_KEY.',
      );
    }
    const expected = computeProof(
      credentials.key,
      'acceptor',
      credentials.cluster,
      nonce,
      challenge.nonce,
    );
    if (!proofsEqual(expected, challenge.proof)) {
      // Both ends derive the proof from their own key: a mismatch means the key given
      // here is not the one this cluster runs with (a server forging proofs looks the same).
      throw new AuthError(
        'LANFS_ERR_AUTH_FAILED',
        credentials.keySource === undefined
          ? `The key given does not match the cluster's key (server ${challenge.serverId} runs with another): check --key, LANFS_KEY or --key-file.`
          : `The key given with ${credentials.keySource} does not match the cluster's key (server ${challenge.serverId} runs with another): give the key the servers were started with.`,
      );
    }
    proof = computeProof(credentials.key, role, credentials.cluster, challenge.nonce, nonce);
  }
  connection.send('AUTH', 0, { proof });
  return expect(await connection.receive(timeoutMs), 'WELCOME').body;
}

/**
 * Acceptor side. Resolves with the dialer's HELLO once it has proved the key;
 * on failure tells the dialer why, closes the connection and rethrows.
 */
export async function acceptHandshake(
  connection: Connection,
  serverId: number,
  credentials: Credentials,
  options: { timeoutMs?: number } = {},
): Promise<BodyOf<'HELLO'>> {
  const timeoutMs = options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  try {
    const hello = expect(await connection.receive(timeoutMs), 'HELLO').body;
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new ProtocolError(
        `This server speaks lanfs protocol ${PROTOCOL_VERSION} and the ${hello.role} speaks ${hello.protocol}; use matching lanfs versions.`,
        'LANFS_ERR_UNSUPPORTED_VERSION',
      );
    }
    if (hello.cluster !== credentials.cluster) {
      throw new AuthError(
        'LANFS_ERR_AUTH_FAILED',
        `This server belongs to cluster "${credentials.cluster}", not "${hello.cluster}": check --cluster or LANFS_CLUSTER.`,
      );
    }
    const nonce = newNonce();
    const proof =
      credentials.insecure || credentials.key === undefined
        ? null
        : computeProof(credentials.key, 'acceptor', credentials.cluster, hello.nonce, nonce);
    connection.send('CHALLENGE', 0, {
      serverId,
      cluster: credentials.cluster,
      nonce,
      proof,
      insecure: proof === null,
    });
    const auth = expect(await connection.receive(timeoutMs), 'AUTH').body;
    if (proof !== null) {
      const expected = computeProof(
        credentials.key!,
        hello.role,
        credentials.cluster,
        nonce,
        hello.nonce,
      );
      if (!proofsEqual(expected, auth.proof)) {
        throw new AuthError(
          'LANFS_ERR_AUTH_FAILED',
          'Authentication failed: the cluster key is wrong; check --key, --key-file or LANFS_KEY.',
        );
      }
    }
    return hello;
  } catch (err) {
    connection.close(err as LanfsError);
    throw err;
  }
}
