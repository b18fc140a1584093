/**
 * The defaults of a server's options, apart from the server itself so that the
 * CLI can show them in its help without loading the whole server (its start-up
 * time is part of every command a user types).
 */
export const DEFAULT_PORT = 7070;
export const DEFAULT_CLUSTER = 'lanfs';
export const DEFAULT_REPLICAS = 2;
/** Connections at once at most (clients, peers, and those still in their handshake). */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** S3 multipart uploads left alone this long are removed (--multipart-expiry). */
export const DEFAULT_MULTIPART_EXPIRY_MS = 24 * 3600 * 1000;
/** Deletes from one client within a minute that go to the trash whatever they ask (--delete-brake). */
export { DEFAULT_DELETE_BRAKE } from '../service/delete-brake.ts';

/** What one connection may do and how long it may hold the server without using it. */
export interface SessionLimits {
  /** Requests in flight on one connection at once. */
  maxStreams: number;
  /** Largest file accepted, in bytes (0: no limit but the disk). */
  maxFileBytes: number;
  /** Part of a message and then silence; and an upload with no bytes: cut off after this. */
  stallMs: number;
  /** A connection with nothing in flight is closed after this. */
  idleMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxStreams: 256,
  maxFileBytes: 0,
  stallMs: 30_000,
  idleMs: 30 * 60_000,
};
