/**
 * The proofs of the challenge-response handshake (docs/PROTOCOL.md). Each side
 * proves it knows the cluster key by an HMAC over both fresh nonces and its role,
 * so the key never crosses the wire and a proof cannot be replayed or reflected.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const NONCE_BYTES = 16;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

export function computeProof(
  key: string,
  role: 'acceptor' | 'client' | 'server' | 'replicator',
  cluster: string,
  firstNonce: string,
  secondNonce: string,
): string {
  return createHmac('sha256', key)
    .update(`lanfs-v1|${role}|${cluster}|${firstNonce}|${secondNonce}`)
    .digest('hex');
}

export function proofsEqual(expected: string, received: string | null): boolean {
  if (received === null) return false;
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
