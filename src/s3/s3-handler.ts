/**
 * The S3 front end: every request signed with SigV4 (an `Authorization:
 * AWS4-HMAC-SHA256 …` header or a presigned `X-Amz-Algorithm` query), whatever
 * its path, on every server's HTTP port (web/http-server.ts sends them here).
 * Path style: `/BUCKET/KEY`; one bucket per top-level folder (object-names.ts).
 * It checks the signature, parses the operation (request.ts) and runs it on the
 * file service; answers are S3's XML, failures S3's XML errors.
 *
 * Where things run: reads stream from a local holder or from a live one over
 * the peer link (http/relayed-download.ts). Writes of a name that exists (a
 * PutObject over it is its next version; DeleteObject; CopyObject onto it;
 * CreateMultipartUpload for it) run on its acting primary: when that is another
 * server the request is forwarded whole at the HTTP level (http/forward.ts; the
 * signature holds because method, path, query, headers and Host are unchanged).
 * New names are created here. A multipart upload lives on the server that
 * started it (its id says which) and requests about it go there.
 *
 * ETags: the record's s3ETag (MD5, or the multipart form) when it was written
 * through S3; otherwise `<first 32 hex of its sha256>-1`, stable and, by its
 * `-N` form, marked as not an MD5 so clients do not check the bytes against it.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { ClusterView } from '../cluster/cluster-view.ts';
import { forwardRequest } from '../http/forward.ts';
import { relayDownload } from '../http/relayed-download.ts';
import { sendFileBytes } from '../http/send-file.ts';
import { FOLDER_MARKER } from '../protocol/file-name.ts';
import type { FileRecord } from '../protocol/messages.ts';
import type { FileDescription, FileService, WriteHandle } from '../service/file-service.ts';
import { LanfsError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { MultipartStore } from '../storage/multipart-store.ts';
import { resolveRange, type ByteRange } from './byte-range.ts';
import { quoteEtag, unquoteEtag } from './etag.ts';
import {
  compareKeys,
  listBuckets,
  listObjectsV1,
  listObjectsV2,
  listObjectVersions,
  type ObjectEntry,
} from './listing.ts';
import { objectName } from './object-names.ts';
import { parseS3Request, type ObjectTarget, type S3Operation } from './request.ts';
import { readSmallBody, sendXml, type S3Exchange } from './s3-answer.ts';
import { uploadBody, unverifiedPayload, type PayloadFacts } from './s3-body.ts';
import { S3Error, s3ErrorFrom } from './s3-error.ts';
import { createMultipartOperations } from './s3-multipart.ts';
import { verifyRequestSignature } from './sigv4.ts';
import {
  copyObjectResultXml,
  deleteResultXml,
  errorXml,
  listAllMyBucketsXml,
  listBucketV1Xml,
  listBucketV2Xml,
  listVersionsXml,
  locationConstraintXml,
  parseCreateBucketConfiguration,
  parseDeleteRequest,
  versioningConfigurationXml,
} from './xml.ts';

export interface S3Components {
  files: FileService;
  view: ClusterView;
  /** The cluster key is the secret of access key id `lanfs`; insecure: signatures are not checked. */
  credentials: { key?: string; insecure: boolean };
  /** This server's multipart uploads in progress. */
  multipart: MultipartStore;
  logger: Logger;
}

/** Resolves with the status sent. */
export type S3Handler = (req: IncomingMessage, res: ServerResponse) => Promise<number>;

/**
 * Whether a request is an S3 request: signed with SigV4 in its header or its
 * query. The other routes never use these (the dashboard, /api and /files take
 * Bearer, /dav Basic); a SigV2 header (`AWS id:sig`) comes here too, to be told
 * that only SigV4 is taken.
 */
export function isS3Request(req: IncomingMessage): boolean {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^AWS4-HMAC-SHA256 |^AWS [^ ]+:/.test(auth)) return true;
  const url = req.url ?? '';
  const question = url.indexOf('?');
  return question >= 0 && /(^|&)X-Amz-Algorithm=/.test(url.slice(question + 1));
}

export function createS3Handler(c: S3Components): S3Handler {
  const { files, view } = c;

  // ---- the namespace ----

  const recordOf = (name: string): FileRecord | undefined =>
    isMarker(name) ? undefined : view.newestHolders(name)[0]?.record;

  const bucketExists = (bucket: string): boolean => view.hasNameUnder(`${bucket}/`);

  const requireBucket = (bucket: string): void => {
    if (!bucketExists(bucket))
      throw new S3Error(
        'NoSuchBucket',
        `The bucket "${bucket}" does not exist; create it first (aws s3 mb s3://${bucket}).`,
        { resource: `/${bucket}` },
      );
  };

  /** The objects of a bucket, in S3's key order; folder markers are not objects. */
  const objectsOf = (bucket: string): FileRecord[] =>
    files
      .list()
      .filter((r) => r.name.startsWith(`${bucket}/`) && !isMarker(r.name))
      .sort((a, b) => compareKeys(a.name, b.name));

  const entryOf = (record: FileRecord, bucket: string): ObjectEntry => ({
    key: record.name.slice(bucket.length + 1),
    size: record.size,
    etag: s3EtagOf(record),
    lastModified: new Date(record.modifiedAt),
  });

  /** Keeps a bucket whose last object went: its marker, as CreateBucket makes it. */
  const keepBucket = async (bucket: string, gone: ReadonlySet<string>): Promise<void> => {
    // A delete forwarded to another server may still be listed here: `gone` names them.
    const left = (r: FileRecord): boolean => r.name.startsWith(`${bucket}/`) && !gone.has(r.name);
    if (bucketExists(bucket) && files.list().some(left)) return;
    await store(`${bucket}/${FOLDER_MARKER}`, [], 0, undefined, {}).catch((err: unknown) =>
      c.logger.warn({ err, bucket }, 'could not keep an emptied S3 bucket'),
    );
  };

  /** Where writes of an existing name run: undefined for here, else that server's HTTP address. */
  const writerOf = (name: string): string | undefined => {
    const location = files.locate(name, 'write');
    if (location.kind === 'local' || location.kind === 'none') return undefined;
    if (location.kind === 'down') throw unavailable(name);
    const http = view.httpAddressOf(location.serverId);
    if (!http)
      throw new S3Error(
        'ServiceUnavailable',
        `"${name}" is changed through server ${location.serverId}, which serves no HTTP (start it with --http-port); try again there.`,
      );
    return http;
  };

  // ---- bytes in and out ----

  /** Creates name (existing undefined) or makes its next version here, from chunks. */
  const store = async (
    name: string,
    chunks: AsyncIterable<Buffer> | Buffer[],
    size: number | null,
    existing: FileRecord | undefined,
    description: FileDescription,
    end: (received: number) => Promise<{ sha256?: string; s3ETag?: string }> = () =>
      Promise.resolve({}),
  ): Promise<FileRecord> => {
    const handle: WriteHandle = existing
      ? await files.beginEdit({ name, size, baseVersion: existing.version, description })
      : await files.beginCreate({ name, size, description });
    try {
      for await (const chunk of chunks) await handle.write(chunk);
      return await handle.finish({ size: handle.received, ...(await end(handle.received)) });
    } catch (err) {
      await handle.abort();
      throw err;
    }
  };

  const forward = (x: S3Exchange, address: string): Promise<number> =>
    forwardRequest(x.req, x.res, address, (message) => new S3Error('ServiceUnavailable', message));

  const multipart = createMultipartOperations({
    files,
    view,
    store: c.multipart,
    requireBucket,
    recordOf,
    writerOf,
    forward,
    storeFile: store,
  });

  // ---- operations ----

  const listAllBuckets = (x: S3Exchange): number => {
    const created = new Map<string, number>();
    for (const record of files.list()) {
      const slash = record.name.indexOf('/');
      if (slash < 0) continue;
      const bucket = record.name.slice(0, slash);
      created.set(bucket, Math.min(created.get(bucket) ?? Infinity, record.modifiedAt));
    }
    const buckets = listBuckets(
      [...created].map(([name, at]) => ({ name, creationDate: new Date(at) })),
    );
    return sendXml(x.res, 200, listAllMyBucketsXml(buckets));
  };

  const createBucket = async (x: S3Exchange, bucket: string): Promise<number> => {
    parseCreateBucketConfiguration(await readSmallBody(x.req));
    if (bucketExists(bucket))
      throw new S3Error(
        'BucketAlreadyOwnedByYou',
        `The bucket "${bucket}" already exists, and it is yours.`,
        { resource: `/${bucket}` },
      );
    if (view.has(bucket))
      throw new S3Error(
        'InvalidBucketName',
        `"${bucket}" is a file at the top level of lanfs, so it cannot be a bucket; pick another name.`,
        { resource: `/${bucket}` },
      );
    await store(`${bucket}/${FOLDER_MARKER}`, [], 0, undefined, {});
    x.res.writeHead(200, { Location: `/${bucket}`, 'Content-Length': 0 }).end();
    return 200;
  };

  const deleteBucket = async (x: S3Exchange, bucket: string): Promise<number> => {
    requireBucket(bucket);
    const marker = `${bucket}/${FOLDER_MARKER}`;
    if (files.list().some((r) => r.name.startsWith(`${bucket}/`) && r.name !== marker))
      throw new S3Error(
        'BucketNotEmpty',
        `The bucket "${bucket}" is not empty; delete its objects first (aws s3 rm --recursive).`,
        { resource: `/${bucket}` },
      );
    if (view.has(marker)) await files.delete(marker);
    x.res.writeHead(204).end();
    return 204;
  };

  const getOrHead = async (
    x: S3Exchange,
    op: Extract<S3Operation, { kind: 'GetObject' | 'HeadObject' }>,
  ): Promise<number> => {
    const known = recordOf(op.name);
    if (!known) {
      requireBucket(op.bucket);
      throw noSuchKey(op.name);
    }
    const location = files.locate(op.name, 'read');
    if (location.kind === 'down') throw unavailable(op.name);
    if (location.kind === 'none') throw noSuchKey(op.name);
    const query = new URLSearchParams((x.req.url ?? '').split('?')[1] ?? '');
    // Issue 14: an older versionId is a kept version, served by a holder that kept it.
    if (op.versionId !== undefined && op.versionId !== String(known.version))
      return await getKeptVersion(x, op, location, query);
    if (location.kind === 'remote') {
      const holder = view.newestHolders(op.name).find((h) => h.id === location.serverId);
      const record = holder?.record ?? known;
      const answer = answerOf(x.req, record, op.range, query);
      if (answer.status !== 200 && answer.status !== 206) return sendEmpty(x.res, answer);
      if (x.req.method === 'HEAD') {
        const { start, end } = answer.range ?? { start: 0, end: record.size - 1 };
        x.res.writeHead(answer.status, { ...answer.headers, 'Content-Length': end - start + 1 });
        x.res.end();
        return answer.status;
      }
      // relayDownload answers with the range it is given; its own headers give way to S3's.
      delete x.req.headers['if-none-match'];
      delete x.req.headers['if-range'];
      if (answer.range) x.req.headers.range = `bytes=${answer.range.start}-${answer.range.end}`;
      else delete x.req.headers.range;
      const writeHead = x.res.writeHead.bind(x.res);
      x.res.writeHead = ((status: number, headers?: Record<string, string | number>) =>
        writeHead(status, {
          'Content-Length': headers?.['Content-Length'] ?? 0,
          ...answer.headers,
        })) as typeof x.res.writeHead;
      const { status } = await relayDownload(x.req, x.res, files, {
        name: op.name,
        serverId: location.serverId,
        known: record,
      });
      return status;
    }
    const open = await files.openForRead(op.name);
    try {
      const answer = answerOf(x.req, open.record, op.range, query);
      if (answer.status !== 200 && answer.status !== 206) return sendEmpty(x.res, answer);
      const { start, end } = answer.range ?? { start: 0, end: open.record.size - 1 };
      x.res.writeHead(answer.status, { ...answer.headers, 'Content-Length': end - start + 1 });
      if (x.req.method === 'HEAD' || end < start) {
        x.res.end();
        return answer.status;
      }
      await sendFileBytes(open, start, end + 1, x.res);
      return answer.status;
    } finally {
      open.release();
    }
  };

  /** GetObject/HeadObject of a kept (older) version: whole, from here or a holder. */
  const getKeptVersion = async (
    x: S3Exchange,
    op: Extract<S3Operation, { kind: 'GetObject' | 'HeadObject' }>,
    location: ReturnType<typeof files.locate>,
    query: URLSearchParams,
  ): Promise<number> => {
    const version = /^[1-9]\d{0,8}$/.test(op.versionId ?? '') ? Number(op.versionId) : NaN;
    if (Number.isNaN(version)) throw noSuchVersion(op.name, op.versionId);
    const headersOf = (record: FileRecord): Record<string, string | number> => ({
      ...answerOf(x.req, record, undefined, query).headers,
      'Content-Length': record.size,
    });
    if (location.kind === 'local') {
      const open = await files.openVersion(op.name, version).catch((err: unknown) => {
        throw notKept(err, op.name, op.versionId);
      });
      try {
        x.res.writeHead(200, headersOf(open.record));
        if (x.req.method === 'HEAD') x.res.end();
        else await sendFileBytes(open, 0, open.record.size, x.res);
        return 200;
      } finally {
        open.release();
      }
    }
    if (location.kind !== 'remote') throw noSuchKey(op.name);
    let started = false;
    const sink =
      x.req.method === 'HEAD'
        ? new Writable({ write: (_chunk, _encoding, done) => done() })
        : x.res;
    try {
      await files.readRemote(
        op.name,
        location.serverId,
        sink,
        (record) => {
          started = true;
          x.res.writeHead(200, headersOf(record));
        },
        version,
      );
      x.res.end();
      return 200;
    } catch (err) {
      if (started) {
        x.res.destroy();
        return 200;
      }
      throw notKept(err, op.name, op.versionId);
    }
  };

  const putObject = async (
    x: S3Exchange,
    op: Extract<S3Operation, { kind: 'PutObject' }>,
  ): Promise<number> => {
    checkWritableKey(op);
    const existing = recordOf(op.name);
    if (existing) {
      const writer = writerOf(op.name);
      if (writer) return await forward(x, writer);
    } else requireBucket(op.bucket);
    const body = uploadBody(x.req, x.payload, op.contentMd5);
    let etag = '';
    const record = await store(
      op.name,
      body.chunks,
      body.size,
      existing,
      describe(op),
      async () => {
        etag = await body.check();
        return { sha256: body.sha256, s3ETag: etag };
      },
    ).catch((err: unknown) => {
      throw sha256Mismatch(err, body.sha256);
    });
    x.res
      .writeHead(200, {
        ETag: quoteEtag(etag),
        'x-amz-version-id': String(record.version),
        'Content-Length': 0,
      })
      .end();
    return 200;
  };

  const copyObject = async (
    x: S3Exchange,
    op: Extract<S3Operation, { kind: 'CopyObject' }>,
  ): Promise<number> => {
    checkWritableKey(op);
    const source = recordOf(op.source.name);
    if (!source) {
      requireBucket(op.source.bucket);
      throw noSuchKey(op.source.name);
    }
    checkVersion(source, op.source.versionId, op.source.name);
    if (op.source.name === op.name && op.metadataDirective === 'COPY')
      throw new S3Error(
        'InvalidRequest',
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      );
    const existing = recordOf(op.name);
    if (existing) {
      const writer = writerOf(op.name);
      if (writer) return await forward(x, writer);
    } else requireBucket(op.bucket);
    await drainBody(x.req);
    const description: FileDescription =
      op.metadataDirective === 'REPLACE'
        ? describe(op)
        : { contentType: source.contentType, metadata: source.metadata ?? {} };
    const md5 = new Md5Stream();
    const record = await store(
      op.name,
      md5.through(files.readBytes(op.source.name)),
      source.size,
      existing,
      description,
      () => Promise.resolve({ sha256: source.sha256, s3ETag: md5.hex() }),
    );
    return sendXml(
      x.res,
      200,
      copyObjectResultXml({ etag: md5.hex(), lastModified: new Date(record.modifiedAt) }),
      { 'x-amz-version-id': String(record.version) },
    );
  };

  const deleteObject = async (
    x: S3Exchange,
    op: Extract<S3Operation, { kind: 'DeleteObject' }>,
  ): Promise<number> => {
    const existing = recordOf(op.name);
    if (!existing) {
      requireBucket(op.bucket);
      x.res.writeHead(204).end(); // S3: deleting what is not there succeeds
      return 204;
    }
    checkVersion(existing, op.versionId, op.name);
    const writer = writerOf(op.name);
    if (writer) return await forward(x, writer);
    await files.delete(op.name);
    await keepBucket(op.bucket, new Set([op.name]));
    x.res.writeHead(204).end();
    return 204;
  };

  const deleteObjects = async (x: S3Exchange, bucket: string): Promise<number> => {
    requireBucket(bucket);
    const request = parseDeleteRequest(await readSmallBody(x.req));
    const deleted: { key: string; versionId?: string }[] = [];
    const gone = new Set<string>();
    const errors: Parameters<typeof deleteResultXml>[0]['errors'] = [];
    const one = async (o: { key: string; versionId?: string }): Promise<void> => {
      try {
        const name = objectName(bucket, o.key);
        const record = recordOf(name);
        if (record) {
          checkVersion(record, o.versionId, name);
          // The service forwards a delete to the file's acting primary over the peer link.
          await files.delete(name);
          gone.add(name);
        }
        deleted.push(o);
      } catch (err) {
        const s3 = s3ErrorFrom(err);
        errors.push({ ...o, code: s3.code, message: s3.message });
      }
    };
    for (let i = 0; i < request.objects.length; i += PARALLEL)
      await Promise.all(request.objects.slice(i, i + PARALLEL).map(one));
    await keepBucket(bucket, gone);
    return sendXml(x.res, 200, deleteResultXml({ deleted: request.quiet ? [] : deleted, errors }));
  };

  const list = async (x: S3Exchange, op: S3Operation): Promise<number> => {
    switch (op.kind) {
      case 'ListObjectsV1': {
        requireBucket(op.bucket);
        const entries = objectsOf(op.bucket).map((r) => entryOf(r, op.bucket));
        return sendXml(x.res, 200, listBucketV1Xml(op, listObjectsV1(entries, op)));
      }
      case 'ListObjectsV2': {
        requireBucket(op.bucket);
        const entries = objectsOf(op.bucket).map((r) => entryOf(r, op.bucket));
        return sendXml(x.res, 200, listBucketV2Xml(op, listObjectsV2(entries, op)));
      }
      case 'ListObjectVersions': {
        requireBucket(op.bucket);
        // Each key's current version, then the versions its holders keep (issue 14), newest first.
        const entries = (
          await Promise.all(
            objectsOf(op.bucket).map(async (r) => {
              const kept = await files
                .historyAnywhere(r.name)
                .then((h) => h.kept.map((e) => e.record))
                .catch(() => []);
              return [r, ...kept].map((v, i) => ({
                ...entryOf(v, op.bucket),
                versionId: String(v.version),
                isLatest: i === 0,
              }));
            }),
          )
        ).flat();
        return sendXml(x.res, 200, listVersionsXml(op, listObjectVersions(entries, op)));
      }
      default:
        throw new Error(`not a listing: ${op.kind}`);
    }
  };

  const run = async (x: S3Exchange, op: S3Operation): Promise<number> => {
    switch (op.kind) {
      case 'ListBuckets':
        return listAllBuckets(x);
      case 'CreateBucket':
        return await createBucket(x, op.bucket);
      case 'HeadBucket':
        requireBucket(op.bucket);
        x.res.writeHead(200, { 'Content-Length': 0 }).end();
        return 200;
      case 'DeleteBucket':
        return await deleteBucket(x, op.bucket);
      case 'GetBucketLocation':
        requireBucket(op.bucket);
        return sendXml(x.res, 200, locationConstraintXml());
      case 'GetBucketVersioning':
        requireBucket(op.bucket);
        return sendXml(x.res, 200, versioningConfigurationXml());
      case 'ListObjectsV1':
      case 'ListObjectsV2':
      case 'ListObjectVersions':
        return await list(x, op);
      case 'ListMultipartUploads':
        requireBucket(op.bucket);
        return sendXml(x.res, 200, await multipart.listUploads(op));
      case 'DeleteObjects':
        return await deleteObjects(x, op.bucket);
      case 'GetObject':
      case 'HeadObject':
        return await getOrHead(x, op);
      case 'PutObject':
        return await putObject(x, op);
      case 'CopyObject':
        return await copyObject(x, op);
      case 'DeleteObject':
        return await deleteObject(x, op);
      case 'CreateMultipartUpload':
        checkWritableKey(op);
        return await multipart.create(x, op, describe(op));
      case 'UploadPart':
        return await multipart.uploadPart(x, op);
      case 'CompleteMultipartUpload':
        return await multipart.complete(x, op);
      case 'AbortMultipartUpload':
        return await multipart.abort(x, op);
      case 'ListParts':
        return await multipart.listParts(x, op);
    }
  };

  /** The signature check; under --insecure any signature is taken (its payload hash still counts). */
  const authenticate = (req: IncomingMessage, rawPath: string, query: string): PayloadFacts => {
    const signed = { method: req.method ?? 'GET', rawPath, query, headers: req.headers };
    if (c.credentials.insecure || c.credentials.key === undefined)
      return unverifiedPayload(req, /(^|&)X-Amz-Algorithm=/.test(query));
    return verifyRequestSignature(signed, { secretKey: c.credentials.key });
  };

  return async (req, res) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('Server', 'lanfs');
    const url = req.url ?? '/';
    const question = url.indexOf('?');
    const rawPath = question < 0 ? url : url.slice(0, question);
    const query = question < 0 ? '' : url.slice(question + 1);
    let resource = rawPath;
    try {
      const payload = authenticate(req, rawPath, query);
      await files.current(); // the view may be behind just after a start or a stall
      const op = parseS3Request(
        { method: req.method ?? 'GET', rawPath, query, headers: req.headers },
        '',
      );
      resource = resourceOf(op, rawPath);
      return await run({ req, res, payload, requestId }, op);
    } catch (err) {
      const error = s3ErrorFrom(err, resource);
      if (error.code === 'InternalError') c.logger.error({ err }, 'S3 request failed');
      if (res.headersSent) {
        res.destroy();
        return error.status;
      }
      // A body not read yet is not read at all: the connection goes after the answer.
      if (!req.complete) res.setHeader('Connection', 'close');
      if (error.code === 'InvalidRange') res.setHeader('Content-Range', 'bytes */*');
      if (req.method === 'HEAD') {
        res.writeHead(error.status, { 'Content-Length': 0 }).end();
        return error.status;
      }
      return sendXml(
        res,
        error.status,
        errorXml({
          code: error.code,
          message: error.message,
          resource: error.resource ?? resource,
          requestId,
        }),
      );
    }
  };
}

/** Objects deleted at once by DeleteObjects. */
const PARALLEL = 8;

/** Whether a name is a folder marker, which S3 never shows. */
function isMarker(name: string): boolean {
  return name === FOLDER_MARKER || name.endsWith(`/${FOLDER_MARKER}`);
}

/** The S3 ETag of a version, without quotes (see the header of this module). */
export function s3EtagOf(record: FileRecord): string {
  return record.s3ETag ?? `${record.sha256.slice(0, 32)}-1`;
}

function checkWritableKey(target: ObjectTarget): void {
  if (isMarker(target.name))
    throw new S3Error(
      'InvalidArgument',
      `"${FOLDER_MARKER}" is reserved for lanfs's empty folders; use another key.`,
      { resource: `/${target.bucket}/${target.key}` },
    );
}

/** A versionId that is no kept version of name. */
function noSuchVersion(name: string, versionId: string | undefined): S3Error {
  return new S3Error(
    'NoSuchVersion',
    `Version ${versionId ?? ''} of "${name}" is not kept (pruned, or never was); ListObjectVersions lists the versions there are.`,
  );
}

/** A kept version's NotFound, as S3's NoSuchVersion (other errors as they are). */
function notKept(err: unknown, name: string, versionId: string | undefined): unknown {
  return err instanceof LanfsError && err.code === 'LANFS_ERR_NOT_FOUND'
    ? noSuchVersion(name, versionId)
    : err;
}

/** versionId is a lanfs version number: the current one is served. */
function checkVersion(record: FileRecord, versionId: string | undefined, name: string): void {
  if (versionId === undefined || versionId === String(record.version)) return;
  // Older versions are not kept yet (issue 14 keeps them); until then they are gone.
  throw new S3Error(
    'NoSuchVersion',
    `lanfs keeps only the current version of "${name}" (${record.version}); ask for it or for none.`,
  );
}

function describe(op: { contentType?: string; metadata: Record<string, string> }): FileDescription {
  return op.contentType === undefined
    ? { metadata: op.metadata }
    : { contentType: op.contentType, metadata: op.metadata };
}

function noSuchKey(name: string): S3Error {
  return new S3Error('NoSuchKey', 'The specified key does not exist.', { resource: `/${name}` });
}

function unavailable(name: string): S3Error {
  return new S3Error(
    'ServiceUnavailable',
    `The servers holding "${name}" are down; try again when one is back.`,
  );
}

/** The service's sha256 check failed: with a signed hash, that is the client's hash not matching. */
function sha256Mismatch(err: unknown, signed: string | undefined): unknown {
  if (
    signed !== undefined &&
    err instanceof LanfsError &&
    err.code === 'LANFS_ERR_CHECKSUM_MISMATCH'
  )
    return new S3Error(
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed; nothing was stored.",
      { cause: err },
    );
  return err;
}

function resourceOf(op: S3Operation, rawPath: string): string {
  if ('name' in op && typeof op.name === 'string') return `/${op.name}`;
  if ('bucket' in op) return `/${op.bucket}`;
  return rawPath;
}

interface ObjectAnswer {
  status: 200 | 206 | 304 | 412;
  headers: Record<string, string | number>;
  range?: { start: number; end: number };
}

/** Headers a presigned GET may set on its answer (response-content-type=...). */
const RESPONSE_OVERRIDES = [
  'content-type',
  'content-language',
  'expires',
  'cache-control',
  'content-disposition',
  'content-encoding',
];

/** The answer to a GET or HEAD of record: conditions (RFC 9110 order), range, S3's headers. */
function answerOf(
  req: IncomingMessage,
  record: FileRecord,
  range: ByteRange | undefined,
  query: URLSearchParams,
): ObjectAnswer {
  const etag = quoteEtag(s3EtagOf(record));
  const lastModified = new Date(record.modifiedAt);
  const headers: Record<string, string | number> = {
    ETag: etag,
    'Last-Modified': lastModified.toUTCString(),
    'x-amz-version-id': String(record.version),
    'Accept-Ranges': 'bytes',
  };
  const seconds = Math.floor(record.modifiedAt / 1000) * 1000;
  const ifMatch = header(req, 'if-match');
  const ifNoneMatch = header(req, 'if-none-match');
  const ifModifiedSince = dateOf(header(req, 'if-modified-since'));
  const ifUnmodifiedSince = dateOf(header(req, 'if-unmodified-since'));
  if (ifMatch !== undefined ? !matches(ifMatch, etag) : ifUnmodifiedSince < seconds)
    throw new S3Error(
      'PreconditionFailed',
      'At least one of the preconditions you specified did not hold.',
    );
  if (ifNoneMatch !== undefined ? matches(ifNoneMatch, etag) : ifModifiedSince >= seconds)
    return { status: 304, headers };
  headers['Content-Type'] = record.contentType ?? 'binary/octet-stream';
  for (const [name, value] of Object.entries(record.metadata ?? {}))
    headers[`x-amz-meta-${name}`] = value;
  for (const name of RESPONSE_OVERRIDES) {
    const value = query.get(`response-${name}`);
    if (value !== null) headers[name.replace(/(^|-)[a-z]/g, (s) => s.toUpperCase())] = value;
  }
  if (range === undefined) return { status: 200, headers };
  const { start, end } = resolveRange(range, record.size);
  headers['Content-Range'] = `bytes ${start}-${end}/${record.size}`;
  return { status: 206, headers, range: { start, end } };
}

function matches(list: string, etag: string): boolean {
  return list
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || quoteEtag(unquoteEtag(t)) === etag);
}

/** A date header in ms, or NaN when absent or not a date (a condition that is then ignored). */
function dateOf(text: string | undefined): number {
  return text === undefined ? NaN : Date.parse(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function sendEmpty(res: ServerResponse, answer: ObjectAnswer): number {
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': 0 }).end();
  return answer.status;
}

/** Reads and drops a body a request should not have (CopyObject sends none). */
async function drainBody(req: IncomingMessage): Promise<void> {
  for await (const chunk of req as AsyncIterable<Buffer>) void chunk;
}

/** MD5 of the bytes passing through, for a copy's ETag. */
class Md5Stream {
  readonly #hash: Hash = createHash('md5');
  #hex: string | undefined;
  async *through(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.#hash.update(chunk);
      yield chunk;
    }
  }
  hex(): string {
    this.#hex ??= this.#hash.digest('hex');
    return this.#hex;
  }
}
