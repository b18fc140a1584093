/**
 * Every lanfs message: its type number, the schema of its payload, and the one
 * place it is encoded and decoded. Control payloads are JSON checked against a
 * zod schema; DATA payloads are raw file bytes. Type numbers are never reused
 * (docs/PROTOCOL.md lists them, with the order in which they flow).
 */
import { z } from 'zod';
import { ProtocolError } from '../shared/errors.ts';
import { encodeFrame, type Frame } from './frame.ts';
import { checkRecords } from './record-check.ts';

export const MessageType = {
  HELLO: 1,
  CHALLENGE: 2,
  AUTH: 3,
  WELCOME: 4,
  ERROR: 5,
  LIST: 6,
  LIST_PAGE: 7,
  STATUS: 8,
  STATUS_RESULT: 9,
  CREATE: 10,
  EDIT: 11,
  DATA: 12,
  END: 13,
  DONE: 14,
  DOWNLOAD: 15,
  FILE: 16,
  DELETE: 17,
  REDIRECT: 18,
  CANCEL: 19,
  PEER_RECORDS: 20,
  PEER_HEARTBEAT: 21,
  PEER_MEMBERS: 22,
  PEER_SYNC_REQUEST: 23,
  REPLICA_PUT: 24,
  REPLICA_DELETE: 25,
  CLAIM: 26,
  CLAIM_REPLY: 27,
  CLAIM_RELEASE: 28,
  WATCH: 29,
  EVENT: 30,
  // Issue 14 (versions, trash, leases): numbered apart like the scrub's, so they never clash.
  HISTORY: 40,
  HISTORY_RESULT: 41,
  TRASH: 42,
  TRASH_RESULT: 43,
  UNDELETE: 44,
  LEASE: 45,
  LEASE_RESULT: 46,
  LEASES: 47,
  LEASES_RESULT: 48,
  /** A restore run on the file's acting primary (HTTP's POST /api/restore, a forwarded one). */
  RESTORE: 49,
  /** An event of one server told to its peers (restores, trash moves, leases: see lanfsEventSchema). */
  PEER_EVENT: 50,
  // Issue 13 (scrub): numbered apart, so the numbers other requests take meanwhile never clash.
  SCRUB: 60,
  SCRUB_RESULT: 61,
  // Issue 15 (faults built in, --allow-faults): numbered apart, so they never clash.
  FAULT: 70,
  FAULT_RESULT: 71,
  // A copy's hash vouching for the primary's bytes: numbered apart, so they never clash.
  REPLICA_SUM: 80,
  REPLICA_SUM_RESULT: 81,
} as const;
export type MessageTypeName = keyof typeof MessageType;

const TYPE_NAMES = new Map<number, MessageTypeName>(
  Object.entries(MessageType).map(([name, type]) => [type, name as MessageTypeName]),
);

export function isKnownMessageType(type: number): boolean {
  return TYPE_NAMES.has(type);
}

export function messageTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type ${type}`;
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const nonceHex = z.string().regex(/^[0-9a-f]{32,128}$/);
const serverId = z.number().int().positive();
const fileName = z.string().min(1).max(4096); // checked for real by validateName
const requestId = z.string().min(1).max(64);
const instanceId = z.string().regex(/^[0-9a-f]{8,64}$/);
const address = z.string().min(3).max(300);

/** The S3 ETag forms: MD5 hex, or the multipart form MD5 hex + "-" + part count. */
const s3ETag = z.string().regex(/^[0-9a-f]{32}(-[0-9]{1,5})?$/);
/** Metadata keys are lower-case header-token names; the whole map is bounded as S3 bounds it. */
export const MAX_METADATA_BYTES = 2048;
const metadataMap = z
  .record(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/), z.string().max(MAX_METADATA_BYTES))
  .refine((map) => Buffer.byteLength(JSON.stringify(map)) <= MAX_METADATA_BYTES + 64, {
    message: `metadata is larger than ${MAX_METADATA_BYTES} bytes`,
  });
/**
 * What the writer of a version said about it, kept with the record and sent to its
 * copies: the media type, and user metadata (S3 x-amz-meta-* with the prefix removed).
 */
const fileDescription = {
  contentType: z.string().min(1).max(256).optional(),
  metadata: metadataMap.optional(),
};

export const fileDescriptionSchema = z.object(fileDescription);

/** What every server knows of one file (SPEC §2.1). */
export const fileRecordSchema = z.object({
  name: fileName,
  /** The identity of a file across its versions and copies: new at each create. Two
   *  records of one name with different ids are two different files (a conflict). */
  fileId: z.string().regex(/^[0-9a-f]{8,64}$/),
  size: z.number().int().nonnegative(),
  sha256: sha256Hex,
  version: z.number().int().positive(),
  primary: serverId,
  replicas: z.array(serverId),
  /** Milliseconds since the epoch of the last change; shown to people, never used to decide. */
  modifiedAt: z.number(),
  /** In a listing: whether a server holding the file is up. */
  available: z.boolean().optional(),
  /** Set on the loser of a conflict, kept under a new name: the name it lost. */
  conflictOf: z.string().max(4096).optional(),
  /** The client request that made this version: a replay of it gets this record back. */
  requestId: z.string().min(1).max(64).optional(),
  /**
   * The versions this one was made from, newest first: the first 8 hex of each one's
   * sha256, at most LINEAGE_VERSIONS of them. Two records of one file at different
   * versions are one history only if the older is in the newer's lineage; else the
   * file was edited on both sides of a partition (cluster/conflict-rule.ts).
   */
  lineage: z
    .string()
    .regex(/^([0-9a-f]{8})*$/)
    .max(8 * 32)
    .optional(),
  ...fileDescription,
  /**
   * The S3 ETag of this version, for versions written through S3: the MD5 of the bytes
   * in hex, or for an object assembled from a multipart upload, MD5-of-part-MD5s-N.
   * Absent otherwise (computing MD5 on every upload would cost every front end for one).
   */
  s3ETag: s3ETag.optional(),
  /** The host name of the client that wrote this version, when it said. */
  writtenBy: z.string().min(1).max(255).optional(),
  /**
   * What the placement rule chose the copies from when the file was created: the live
   * servers other than the primary and the files each held then (lanfs why), with the
   * bytes each held and its --capacity when known (the unequal-disks rule). Kept
   * across edits; absent on files created before it was recorded.
   */
  placedAmong: z
    .array(
      z.object({
        id: serverId,
        files: z.number().int().nonnegative(),
        bytes: z.number().int().nonnegative().optional(),
        capacity: z.number().int().positive().optional(),
      }),
    )
    .max(64)
    .optional(),
});
export type FileRecord = z.infer<typeof fileRecordSchema>;

/** A version kept after an edit, or a deleted file in the trash (storage/version-store.ts). */
export const keptEntrySchema = z.object({
  key: z.string().max(200),
  place: z.enum(['versions', 'trash']),
  record: fileRecordSchema,
  keptAt: z.number(),
  deletedBy: z.string().max(255).optional(),
});
export type KeptEntryWire = z.infer<typeof keptEntrySchema>;

/** Someone has the file open in `lanfs edit` (held on its acting primary, renewed by the client). */
export const leaseSchema = z.object({
  name: fileName,
  host: z.string().min(1).max(255),
  /** Random per edit session, so a renewal or release is told from another editor on the same host. */
  holder: z.string().min(8).max(64),
  since: z.number(),
  expiresAt: z.number(),
  serverId,
});
export type Lease = z.infer<typeof leaseSchema>;
/** How long an edit lease lives without a renewal (a killed client frees the file this soon). */
export const LEASE_TTL_MS = 6000;
/** How often an editing client renews its lease (well inside the TTL: one lost renewal costs nothing). */
export const LEASE_RENEW_MS = 2000;

/** What a copy is, known before its bytes: size and sha256 come with END. */
export const replicaHeaderSchema = fileRecordSchema.omit({
  size: true,
  sha256: true,
  available: true,
});
export type ReplicaHeader = z.infer<typeof replicaHeaderSchema>;

export const tombstoneSchema = z.object({
  name: fileName,
  fileId: z.string().regex(/^[0-9a-f]{8,64}$/),
  version: z.number().int().positive(),
  /** When the delete was made (ms epoch, the deleting server's clock); absent from older servers. */
  deletedAt: z.number().optional(),
});
export type TombstoneRef = z.infer<typeof tombstoneSchema>;

/** The part of a kept tombstone (its pending holders aside) that travels between servers. */
export function tombstoneRef(t: TombstoneRef): TombstoneRef {
  return { name: t.name, fileId: t.fileId, version: t.version, deletedAt: t.deletedAt };
}

/** What a tombstone is checked against: a record, or a file about to be made. */
export type Coverable = Pick<FileRecord, 'fileId' | 'version'> & { modifiedAt?: number };

/**
 * Whether a tombstone covers a record: the same file, at the deleted version or older,
 * or a newer version made before the delete. Such a version was never seen by the
 * server that deleted: its primary died right after making it, before it answered or
 * passed it on (seed 13's torture: an edit of unknown outcome came back 2.4 s after an
 * acknowledged delete, with its server). Made before the delete, it is deleted with
 * the file (its bytes go to the holder's trash). A version made after the delete, on
 * the other side of a partition, still beats it: the edit wins. The two times are of
 * two servers' clocks.
 */
export function covers(tombstone: TombstoneRef | undefined, record: Coverable): boolean {
  if (tombstone === undefined || tombstone.fileId !== record.fileId) return false;
  if (tombstone.version >= record.version) return true;
  return (
    tombstone.deletedAt !== undefined &&
    record.modifiedAt !== undefined &&
    record.modifiedAt < tombstone.deletedAt
  );
}

/** The faults in force on one server (--allow-faults; lanfs fault). */
export const faultsSchema = z.object({
  slowDiskMs: z.number().int().nonnegative(),
  /** Servers whose links this one drops (cut A B sets each on the other). */
  cut: z.array(serverId).max(1000),
});
export type Faults = z.infer<typeof faultsSchema>;

export const memberSchema = z.object({
  id: serverId,
  address: z.string().max(300),
  up: z.boolean(),
  files: z.number().int().nonnegative(),
  /** host:port of its HTTP side (dashboard, /files), when it runs one. */
  httpAddress: z.string().max(300).optional(),
  /** How long a down server has been down, as the reporting server saw it (status only). */
  downForMs: z.number().int().nonnegative().optional(),
  /** The bytes it offers to placement (lanfs server --capacity), when it gave one. */
  capacity: z.number().int().positive().optional(),
  /** Issue 15: the faults in force on this server (its own entry only; absent: none). */
  faults: faultsSchema.optional(),
  /**
   * Issue 14: bytes in files, kept versions and the trash on this server, and its
   * disk's free space. A server fills its own entry; `status` asks every live one.
   */
  space: z
    .object({
      files: z.number().nonnegative(),
      versions: z.number().nonnegative(),
      trash: z.number().nonnegative(),
      free: z.number().nonnegative(),
    })
    .optional(),
  /** Bursts of deletes this server's delete brake caught (its own entry only), newest last. */
  deleteBursts: z
    .array(
      z.object({
        host: z.string().max(255),
        since: z.number(),
        lastAt: z.number(),
        deletes: z.number().int().nonnegative(),
        undo: z.string().max(1000),
      }),
    )
    .max(100)
    .optional(),
});
export type Member = z.infer<typeof memberSchema>;

const changeKind = z.enum(['created', 'edited', 'deleted', 'copied', 'moved']);
const transferDirection = z.enum(['in', 'out']);
const transferVia = z.enum(['tcp', 'http']);
/** What every event carries: its kind, when (ms since the epoch) and the server reporting it. */
const eventBase = { at: z.number(), serverId };
const memberAddress = z.string().max(300);

/**
 * One event of a server's event stream (src/events/): what `/api/events` sends as
 * server-sent events and `EVENT` carries to `lanfs watch`. `watching` (first on a
 * WATCH stream: the server listens from now on) and `lagged` (this subscriber fell
 * behind and `dropped` events were skipped: read the state again) are notices of
 * the stream itself rather than of the cluster.
 */
export const lanfsEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('record-changed'),
    ...eventBase,
    name: fileName,
    /** The file as the cluster lists it now; null once deleted. */
    record: fileRecordSchema.nullable(),
    change: changeKind,
  }),
  z.object({
    type: z.literal('member-up'),
    ...eventBase,
    memberId: serverId,
    address: memberAddress,
  }),
  z.object({
    type: z.literal('member-down'),
    ...eventBase,
    memberId: serverId,
    address: memberAddress,
  }),
  z.object({ type: z.literal('conflict'), ...eventBase, name: fileName, conflictOf: fileName }),
  z.object({
    type: z.literal('copy-missing'),
    ...eventBase,
    name: fileName,
    /** Live servers holding the newest version. */
    holders: z.array(serverId).max(10_000),
    wanted: z.number().int().positive(),
  }),
  z.object({ type: z.literal('copy-made'), ...eventBase, name: fileName, on: serverId }),
  z.object({
    type: z.literal('transfer-started'),
    ...eventBase,
    name: fileName,
    direction: transferDirection,
    bytes: z.number().int().nonnegative().optional(),
    via: transferVia,
  }),
  z.object({
    type: z.literal('transfer-finished'),
    ...eventBase,
    name: fileName,
    direction: transferDirection,
    bytes: z.number().int().nonnegative().optional(),
    via: transferVia,
  }),
  z.object({ type: z.literal('watching'), ...eventBase }),
  z.object({ type: z.literal('lagged'), ...eventBase, dropped: z.number().int().nonnegative() }),
  // Issue 14: what only the server doing it knows (a restore looks like an edit, a trash
  // move like a delete), told by it to its peers (PEER_EVENT), so every stream has them.
  z.object({
    type: z.literal('restored'),
    ...eventBase,
    name: fileName,
    /** The kept version whose bytes came back. */
    from: z.number().int().positive(),
    /** The new version they are now. */
    version: z.number().int().positive(),
    host: z.string().max(255).optional(),
  }),
  z.object({
    type: z.literal('trashed'),
    ...eventBase,
    name: fileName,
    version: z.number().int().positive(),
    host: z.string().max(255).optional(),
  }),
  z.object({
    type: z.literal('purged'),
    ...eventBase,
    name: fileName,
    version: z.number().int().positive(),
    host: z.string().max(255).optional(),
  }),
  z.object({
    type: z.literal('undeleted'),
    ...eventBase,
    name: fileName,
    /** The name it had when deleted, when it came back under another (--as). */
    was: fileName.optional(),
    version: z.number().int().positive(),
  }),
  z.object({
    type: z.enum(['lease-taken', 'lease-released', 'lease-expired']),
    ...eventBase,
    name: fileName,
    host: z.string().max(255),
    since: z.number(),
  }),
  z.object({
    type: z.literal('delete-burst'),
    ...eventBase,
    host: z.string().max(255),
    deletes: z.number().int().nonnegative(),
    /** The command that brings them all back. */
    undo: z.string().max(1000),
  }),
]);
export type LanfsEvent = z.infer<typeof lanfsEventSchema>;

/** One server's scrubber: the pass now (if any), the last finished one, totals since start. */
export const scrubServerSchema = z.object({
  serverId,
  /** --scrub-rate in MB/s; 0 when scrubbing is off. */
  rateMBps: z.number().nonnegative(),
  running: z.boolean(),
  /** Passes started since the server started; a client waits for this to grow. */
  passes: z.number().int().nonnegative(),
  /** The pass running now, else the last one (null before the first). */
  pass: z
    .object({
      startedAt: z.number(),
      endedAt: z.number().nullable(),
      files: z.number().int().nonnegative(),
      bytes: z.number().nonnegative(),
      bad: z.number().int().nonnegative(),
      repaired: z.number().int().nonnegative(),
    })
    .nullable(),
  /** Copies found bad and not repaired (no good copy elsewhere), kept in place. */
  unrepaired: z.array(fileName).max(10_000),
});
export type ScrubServer = z.infer<typeof scrubServerSchema>;

/** What one server found of its copy of one file: ok at that version, at that time. */
export const scrubFileSchema = z.object({
  name: fileName,
  serverId,
  version: z.number().int().positive(),
  sha256: sha256Hex,
  at: z.number(),
  ok: z.boolean(),
});
export type ScrubFile = z.infer<typeof scrubFileSchema>;

/** Names in one LIST_PAGE of a names-only listing at most. */
export const NAME_PAGE_NAMES = 16_384;

const schemas = {
  HELLO: z.object({
    /** client; server (the mesh link); replicator (a server moving file bytes to another). */
    role: z.enum(['client', 'server', 'replicator']),
    protocol: z.number().int(),
    cluster: z.string().max(200),
    nonce: nonceHex,
    /** A server dialing a peer says who it is: id, a random id of this run, where it listens. */
    serverId: serverId.optional(),
    instance: instanceId.optional(),
    address: address.optional(),
  }),
  CHALLENGE: z.object({
    serverId,
    cluster: z.string().max(200),
    nonce: nonceHex,
    /** Proof that the server knows the key; null when the server runs --insecure. */
    proof: z.string().max(128).nullable(),
    insecure: z.boolean(),
  }),
  AUTH: z.object({ proof: z.string().max(128).nullable() }),
  WELCOME: z.object({
    serverId,
    members: z.array(memberSchema).max(10_000),
    insecure: z.boolean(),
  }),
  ERROR: z.object({ code: z.string().max(100), message: z.string().max(2000) }),
  /**
   * The files in name order (all when empty): at most `limit`, those after the name
   * `after`, those whose name starts with `prefix`. Answered by LIST_PAGE… streamed.
   */
  LIST: z.object({
    limit: z.number().int().positive().optional(),
    after: fileName.optional(),
    prefix: z.string().max(4096).optional(),
    /** Only the names (pages carry `names`, no records): a script's listing of many files. */
    namesOnly: z.boolean().optional(),
  }),
  /** One page of a LIST; the last has `done`, and `more` when the limit cut names off. */
  LIST_PAGE: z.object({
    records: z.array(fileRecordSchema).max(10_000),
    /** The names of a LIST with `namesOnly` (records is empty then). */
    names: z.array(z.string().max(4096)).max(NAME_PAGE_NAMES).optional(),
    done: z.boolean(),
    more: z.boolean().optional(),
  }),
  STATUS: z.object({}),
  STATUS_RESULT: z.object({
    serverId,
    insecure: z.boolean(),
    replicas: z.number().int().positive(),
    servers: z.array(memberSchema).max(10_000),
    /** Files kept under a conflict name, with the name they lost. */
    conflicts: z
      .array(z.object({ name: fileName, conflictOf: fileName }))
      .max(10_000)
      .default([]),
    /** Files with fewer live copies than wanted. */
    underReplicated: z.array(fileName).max(10_000).default([]),
    /** --heal-after of the answering server: when copies of a down server are made again. */
    healAfterMs: z.number().int().nonnegative().optional(),
    /** Bytes per second the answering server's copies moved at lately (absent: none measured). */
    copyBytesPerSecond: z.number().nonnegative().optional(),
  }),
  CREATE: z.object({
    name: fileName,
    size: z.number().int().nonnegative().nullable(),
    requestId,
    writtenBy: z.string().min(1).max(255).optional(),
    // A replay: servers that took this create before and died before answering. They may
    // have stored it (as the same file: its fileId comes from the request id), so its
    // tombstone must wait for them.
    mayHold: z.array(serverId).max(16).optional(),
  }),
  EDIT: z.object({
    name: fileName,
    size: z.number().int().nonnegative().nullable(),
    baseVersion: z.number().int().positive(),
    requestId,
    writtenBy: z.string().min(1).max(255).optional(),
  }),
  END: z.object({
    size: z.number().int().nonnegative(),
    sha256: sha256Hex,
    /** A copy's S3 ETag, known only once the primary has all the bytes. */
    s3ETag: s3ETag.optional(),
  }),
  DONE: z.object({ record: fileRecordSchema.nullable() }),
  DOWNLOAD: z.object({
    name: fileName,
    offset: z.number().int().nonnegative().default(0),
    /** A kept version instead of the newest (lanfs download NAME@3). */
    version: z.number().int().positive().optional(),
  }),
  FILE: z.object({ record: fileRecordSchema, offset: z.number().int().nonnegative() }),
  DELETE: z.object({
    name: fileName,
    requestId,
    /** Skip the trash (ignored during a burst of deletes from one client: the delete brake). */
    purge: z.boolean().optional(),
    /** The host name of the client, for the trash and the delete brake. */
    host: z.string().min(1).max(255).optional(),
  }),
  REDIRECT: z.object({ name: fileName, serverId, address: z.string().max(300) }),
  CANCEL: z.object({}),
  /**
   * The records of the files the sender holds. `full` pages replace what the
   * receiver knew of the sender (the first page has `reset`); otherwise a delta
   * from `baseVersion` to `version` of the sender's catalog.
   */
  PEER_RECORDS: z.object({
    instance: instanceId,
    version: z.number().int().nonnegative(),
    baseVersion: z.number().int().nonnegative(),
    full: z.boolean(),
    reset: z.boolean(),
    done: z.boolean(),
    records: z.array(fileRecordSchema).max(10_000),
    removed: z.array(fileName).max(10_000),
    /** Deletes the sender decided and some holder has not yet seen: all of them in the first step of a full copy, after its records (pageDelta). */
    tombstones: z.array(tombstoneSchema).max(10_000).default([]),
    /**
     * A delta carrying every tombstone of each name it names (pageDelta): the receiver
     * replaces what it kept of those names with them. Absent from an older sender, whose
     * deltas carried only those of the names they removed.
     */
    everyTombstone: z.boolean().optional(),
  }),
  /** Every HEARTBEAT_INTERVAL_MS: I am alive, and my catalog is at this version. */
  PEER_HEARTBEAT: z.object({
    instance: instanceId,
    version: z.number().int().nonnegative(),
    files: z.number().int().nonnegative(),
    /** The port of the sender's HTTP side, if it runs one (for redirects between dashboards). */
    httpPort: z.number().int().min(1).max(65535).optional(),
    /** The bytes the sender offers to placement (--capacity); absent: not given. */
    capacity: z.number().int().positive().optional(),
  }),
  /** The members the sender knows of, so membership spreads through the mesh. */
  PEER_MEMBERS: z.object({ members: z.array(z.object({ id: serverId, address })).max(10_000) }),
  /** Please send me your records again (I missed a delta, or the link was down). */
  PEER_SYNC_REQUEST: z.object({
    /**
     * The sender's catalog as this side holds it: the answer may then be only what
     * changed since (a delta from that version) instead of every record. Absent: all.
     */
    since: z.object({ instance: instanceId, version: z.number().int().nonnegative() }).optional(),
  }),
  /** A version of a file from its primary, to store as a copy; then DATA…, END → DONE. */
  REPLICA_PUT: z.object({ record: replicaHeaderSchema }),
  /** Remove your copy of this file if it is at this version or older → DONE. */
  REPLICA_DELETE: z.object({
    tombstone: tombstoneSchema,
    /** The delete skipped the trash (delete --purge): the copy skips it too. */
    purge: z.boolean().optional(),
  }),
  /** May I create this name? Asked of every live server before a create is acknowledged. */
  CLAIM: z.object({ claimId: z.number().int().nonnegative(), name: fileName }),
  CLAIM_REPLY: z.object({ claimId: z.number().int().nonnegative(), granted: z.boolean() }),
  /** The create of this name did not happen after all. */
  CLAIM_RELEASE: z.object({ name: fileName }),
  /** Send me every event of your event stream from now on (EVENT…, until the connection closes). */
  WATCH: z.object({}),
  /** One event, on the stream of a WATCH. */
  EVENT: lanfsEventSchema,
  /** The versions of a file this server keeps (redirected to a live holder). */
  HISTORY: z.object({ name: fileName }),
  HISTORY_RESULT: z.object({
    serverId,
    current: fileRecordSchema,
    kept: z.array(keptEntrySchema).max(10_000),
  }),
  /** What is in this server's trash (the client asks every live server). */
  TRASH: z.object({}),
  TRASH_RESULT: z.object({ serverId, items: z.array(keptEntrySchema).max(100_000) }),
  /** Bring a trash entry of this server back (under `as`, or its old name) → DONE. */
  UNDELETE: z.object({ key: z.string().max(200), as: fileName.optional(), requestId }),
  /** Take, renew or release the edit lease of a file (on its acting primary). */
  LEASE: z.object({
    name: fileName,
    action: z.enum(['take', 'renew', 'release']),
    host: z.string().min(1).max(255),
    holder: z.string().min(8).max(64),
    /** Take it even though someone else holds it. */
    force: z.boolean().default(false),
  }),
  /** `lease`: the lease now held (null after a release); `other`: the lease someone else holds. */
  LEASE_RESULT: z.object({ lease: leaseSchema.nullable(), other: leaseSchema.optional() }),
  /** The edit leases this server holds. */
  LEASES: z.object({}),
  LEASES_RESULT: z.object({ leases: z.array(leaseSchema).max(100_000) }),
  /** Upload a kept version's bytes as the next version (on the acting primary) → DONE. */
  RESTORE: z.object({
    name: fileName,
    version: z.number().int().positive(),
    host: z.string().min(1).max(255).optional(),
  }),
  /** An event of the sending server, for this one's watchers (never told further) → DONE. */
  PEER_EVENT: z.object({ event: lanfsEventSchema }),
  /**
   * Scrub state (and, with `start`, a new pass started now). From a client: every live
   * server answers; from a peer (`local`): the answering server only. `names`: the
   * verification of these files too.
   */
  SCRUB: z.object({
    start: z.boolean().default(false),
    local: z.boolean().default(false),
    names: z.array(fileName).max(1000).default([]),
  }),
  SCRUB_RESULT: z.object({
    servers: z.array(scrubServerSchema).max(10_000),
    files: z.array(scrubFileSchema).max(100_000),
  }),
  /**
   * A fault for demos and tests, on a server started with --allow-faults: kill (exit at
   * once), stop (SIGSTOP itself; `ms` sets a helper process to SIGCONT it after that
   * long), cont (a running server has nothing to do), slow-disk (`ms` before every disk
   * read and write), cut (drop every link with server `peer`), heal (remove them all).
   */
  FAULT: z.object({
    action: z.enum(['kill', 'stop', 'cont', 'slow-disk', 'cut', 'heal']),
    ms: z.number().int().nonnegative().max(3_600_000).optional(),
    peer: serverId.optional(),
  }),
  FAULT_RESULT: z.object({
    serverId,
    pid: z.number().int().positive(),
    faults: faultsSchema,
  }),
  /**
   * On a REPLICA_PUT stream, after its last DATA and before END: the size and sha256 of
   * the bytes this copy received (sha256 null where it does not know it). The primary
   * forwarded exactly the bytes it stores, so a copy's sha256 that matches the client's
   * checks the primary's bytes too, and the primary need not hash them itself.
   */
  REPLICA_SUM: z.object({}),
  REPLICA_SUM_RESULT: z.object({
    size: z.number().int().nonnegative(),
    sha256: sha256Hex.nullable(),
  }),
} as const;

type Schemas = typeof schemas;
export type ControlMessageName = keyof Schemas;
export type ControlMessage = {
  [K in ControlMessageName]: { type: K; streamId: number; body: z.infer<Schemas[K]> };
}[ControlMessageName];
export type DataMessage = { type: 'DATA'; streamId: number; bytes: Buffer };
export type Message = ControlMessage | DataMessage;
export type BodyOf<K extends ControlMessageName> = z.infer<Schemas[K]>;
export type InputOf<K extends ControlMessageName> = z.input<Schemas[K]>;

/** Largest JSON payload of one page of records: well inside MAX_FRAME_PAYLOAD_BYTES. */
export const RECORD_PAGE_BYTES = 512 * 1024;

/** Names split into pages of at most NAME_PAGE_NAMES and about RECORD_PAGE_BYTES of JSON each. */
export function pageNames(names: string[], maxBytes = RECORD_PAGE_BYTES): string[][] {
  const pages: string[][] = [[]];
  let bytes = 0;
  for (const name of names) {
    // Each character as if it took an escape (6 bytes), cheaper than encoding it to know.
    const size = 3 + 6 * name.length;
    const page = pages[pages.length - 1]!;
    if ((bytes + size > maxBytes || page.length >= NAME_PAGE_NAMES) && page.length > 0) {
      pages.push([]);
      bytes = 0;
    }
    pages[pages.length - 1]!.push(name);
    bytes += size;
  }
  return pages;
}

/**
 * Cuts records into pages whose JSON stays under RECORD_PAGE_BYTES. Each record's
 * size is bounded from above without encoding it (a name can be 1 KiB, a lineage
 * 256 characters, metadata 2 KiB: a fixed count per page could overflow a frame).
 * Always at least one page.
 */
export function pageRecords(records: FileRecord[], maxBytes = RECORD_PAGE_BYTES): FileRecord[][] {
  const pages: FileRecord[][] = [[]];
  let bytes = 0;
  for (const record of records) {
    const size = recordJsonBound(record);
    if (bytes + size > maxBytes && pages[pages.length - 1]!.length > 0) {
      pages.push([]);
      bytes = 0;
    }
    pages[pages.length - 1]!.push(record);
    bytes += size;
  }
  return pages;
}

/** One page of a delta between servers (the body of PEER_RECORDS, its header aside). */
export interface DeltaPage {
  records: FileRecord[];
  removed: string[];
  tombstones: TombstoneRef[];
}

/** The most of each list one PEER_RECORDS takes (its schema's limits). */
const DELTA_PAGE_ITEMS = 10_000;

/**
 * Cuts a delta into pages under RECORD_PAGE_BYTES and the schema's counts: each
 * name's record (or its removal) comes first, then its tombstones, in the same page
 * while they fit and in the pages right after when a name has more than a page's
 * worth. The receiver replaces a name's tombstones on the page of its record or
 * removal, and keeps those the pages after add. `others` go last (a full copy's
 * every tombstone). Always at least one page.
 */
export function pageDelta(
  records: FileRecord[],
  removed: string[],
  tombstonesOf: (name: string) => TombstoneRef[],
  others: TombstoneRef[] = [],
  maxBytes = RECORD_PAGE_BYTES,
): DeltaPage[] {
  const pages: DeltaPage[] = [{ records: [], removed: [], tombstones: [] }];
  let bytes = 0;
  const room = (size: number, list: 'records' | 'removed' | 'tombstones'): DeltaPage => {
    let page = pages[pages.length - 1]!;
    const empty = page.records.length + page.removed.length + page.tombstones.length === 0;
    if (!empty && (bytes + size > maxBytes || page[list].length >= DELTA_PAGE_ITEMS)) {
      pages.push((page = { records: [], removed: [], tombstones: [] }));
      bytes = 0;
    }
    bytes += size;
    return page;
  };
  const addTombstones = (tombstones: TombstoneRef[]): void => {
    for (const t of tombstones)
      room(TOMBSTONE_FIXED_JSON_BYTES + 6 * t.name.length, 'tombstones').tombstones.push(t);
  };
  for (const record of records) {
    room(recordJsonBound(record), 'records').records.push(record);
    addTombstones(tombstonesOf(record.name));
  }
  for (const name of removed) {
    room(3 + 6 * name.length, 'removed').removed.push(name);
    addTombstones(tombstonesOf(name));
  }
  addTombstones(others);
  return pages;
}

/** Bytes of a tombstone's JSON at most, its name aside: keys, a fileId of up to 64, the version, deletedAt. */
const TOMBSTONE_FIXED_JSON_BYTES = 160;

/** Bytes of the fixed fields' JSON at most: keys, ids, hashes, numbers, flags. */
const RECORD_FIXED_JSON_BYTES = 480;

/**
 * At least the bytes of record's JSON: the fixed fields, and each string as if every
 * character took an escape (6 bytes: \uXXXX), cheaper than encoding it to know.
 */
function recordJsonBound(record: FileRecord): number {
  // Plain field reads, no helper: this runs for every record of every page.
  let bytes = RECORD_FIXED_JSON_BYTES + 6 * record.name.length + 17 * record.replicas.length;
  if (record.lineage !== undefined) bytes += record.lineage.length;
  if (record.conflictOf !== undefined) bytes += 6 * record.conflictOf.length;
  if (record.requestId !== undefined) bytes += 6 * record.requestId.length;
  if (record.contentType !== undefined) bytes += 6 * record.contentType.length;
  if (record.writtenBy !== undefined) bytes += 6 * record.writtenBy.length;
  if (record.placedAmong !== undefined) bytes += 110 * record.placedAmong.length;
  if (record.metadata !== undefined) bytes += 6 * JSON.stringify(record.metadata).length;
  return bytes;
}

export function encodeMessage<K extends ControlMessageName>(
  type: K,
  streamId: number,
  body: InputOf<K>,
): Buffer {
  return encodeFrame(MessageType[type], streamId, Buffer.from(JSON.stringify(body)));
}

/** Turn a frame into a checked message; throws ProtocolError on anything malformed. */
export function decodeMessage(frame: Frame): Message {
  const name = TYPE_NAMES.get(frame.type);
  if (name === undefined) throw new ProtocolError(`Unknown message type ${frame.type}.`);
  if (name === 'DATA') return { type: 'DATA', streamId: frame.streamId, bytes: frame.payload };
  let json: unknown;
  try {
    json = JSON.parse(frame.payload.toString('utf8'));
  } catch {
    throw new ProtocolError(`The ${name} message is not valid JSON.`);
  }
  const bulk = BULK_SCHEMAS[name as keyof typeof BULK_SCHEMAS];
  const parsed = (bulk ?? schemas[name]).safeParse(json);
  if (!parsed.success) throw malformed(name, parsed.error.issues[0]);
  if (bulk) {
    const body = parsed.data as { records: unknown[] };
    body.records = checkRecords(body.records, (value, index) => {
      const record = fileRecordSchema.safeParse(value);
      if (record.success) return record.data;
      const issue = record.error.issues[0];
      throw malformed(name, issue, ['records', index, ...(issue?.path ?? [])]);
    });
  }
  return { type: name, streamId: frame.streamId, body: parsed.data } as ControlMessage;
}

/**
 * The messages that carry records in bulk (a join's million, a listing's): their
 * records are checked by checkRecords, which keeps the parsed objects, not by zod
 * one by one (see protocol/record-check.ts). The rest of the message by zod.
 */
const BULK_SCHEMAS = {
  PEER_RECORDS: schemas.PEER_RECORDS.extend({ records: z.array(z.unknown()).max(10_000) }),
  LIST_PAGE: schemas.LIST_PAGE.extend({ records: z.array(z.unknown()).max(10_000) }),
};

function malformed(
  name: string,
  issue: z.ZodIssue | undefined,
  path: PropertyKey[] = issue?.path ?? [],
): ProtocolError {
  const where = path.length > 0 ? ` (at ${path.map(String).join('.')})` : '';
  return new ProtocolError(
    `The ${name} message is malformed${where}: ${issue?.message ?? 'invalid'}.`,
  );
}

/** How many earlier versions a record's lineage names (8 hex each). */
export const LINEAGE_VERSIONS = 32;

/** The lineage of the version made from `parent`: its sha256 first, then its own lineage, cut. */
export function nextLineage(parent: Pick<FileRecord, 'sha256' | 'lineage'>): string {
  return (parent.sha256.slice(0, 8) + (parent.lineage ?? '')).slice(0, 8 * LINEAGE_VERSIONS);
}
