/**
 * S3 multipart uploads over lanfs: an upload lives on the server that started
 * it, its parts kept durably there (storage/multipart-store.ts) until Complete
 * streams them in order into one create (or next version) of the file, so the
 * object appears whole or not at all; Abort or --multipart-expiry throw them
 * away. The upload id, `<serverId>-<hex>`, says which server that is, and
 * UploadPart, Complete, Abort and ListParts sent to another server are
 * forwarded there whole. CreateMultipartUpload for a name that exists runs on
 * its acting primary (forwarded like any write of it), so the upload and the
 * file's next version are made on the same server.
 */
import type { ClusterView } from '../cluster/cluster-view.ts';
import type { FileRecord } from '../protocol/messages.ts';
import type { FileDescription, FileService } from '../service/file-service.ts';
import type { MultipartStore, StoredPart } from '../storage/multipart-store.ts';
import { serverOfUpload } from '../storage/multipart-store.ts';
import { multipartEtag, quoteEtag } from './etag.ts';
import type { S3Operation } from './request.ts';
import { uploadBody } from './s3-body.ts';
import { S3Error } from './s3-error.ts';
import { readSmallBody, sendXml, type S3Exchange } from './s3-answer.ts';
import {
  completeMultipartUploadXml,
  initiateMultipartUploadXml,
  listMultipartUploadsXml,
  listPartsXml,
  parseCompleteMultipartUpload,
} from './xml.ts';

/** S3's smallest part, the last one excepted. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

type Op<K extends S3Operation['kind']> = Extract<S3Operation, { kind: K }>;

export interface MultipartDeps {
  files: FileService;
  view: ClusterView;
  store: MultipartStore;
  requireBucket: (bucket: string) => void;
  recordOf: (name: string) => FileRecord | undefined;
  writerOf: (name: string) => string | undefined;
  forward: (x: S3Exchange, address: string) => Promise<number>;
  storeFile: (
    name: string,
    chunks: AsyncIterable<Buffer>,
    size: number | null,
    existing: FileRecord | undefined,
    description: FileDescription,
    end: (received: number) => Promise<{ sha256?: string; s3ETag?: string }>,
  ) => Promise<FileRecord>;
}

export function createMultipartOperations(d: MultipartDeps) {
  const { files, view, store } = d;

  /** undefined when the upload lives here; else the HTTP address of its server. */
  const homeOf = (uploadId: string): string | undefined => {
    const serverId = serverOfUpload(uploadId);
    if (serverId === undefined) throw noSuchUpload();
    if (serverId === files.serverId) return undefined;
    const member = view.member(serverId);
    const http = view.httpAddressOf(serverId);
    if (!member?.up || http === undefined)
      throw new S3Error(
        'ServiceUnavailable',
        `This upload is kept by server ${serverId}, which is down or serves no HTTP; try again when it is back, or start the upload again.`,
      );
    return http;
  };

  /** The upload, checked to be of this object. */
  const uploadOf = async (uploadId: string, name: string) => {
    const info = await store.get(uploadId);
    if (!info || info.name !== name) throw noSuchUpload();
    return info;
  };

  const create = async (
    x: S3Exchange,
    op: Op<'CreateMultipartUpload'>,
    description: FileDescription,
  ): Promise<number> => {
    if (d.recordOf(op.name)) {
      const writer = d.writerOf(op.name);
      if (writer) return await d.forward(x, writer);
    } else d.requireBucket(op.bucket);
    const info = await store.create({ name: op.name, ...description });
    return sendXml(
      x.res,
      200,
      initiateMultipartUploadXml({ bucket: op.bucket, key: op.key, uploadId: info.uploadId }),
    );
  };

  const uploadPart = async (x: S3Exchange, op: Op<'UploadPart'>): Promise<number> => {
    const home = homeOf(op.uploadId);
    if (home) return await d.forward(x, home);
    await uploadOf(op.uploadId, op.name);
    const body = uploadBody(x.req, x.payload, op.contentMd5);
    const writer = await store.beginPart(op.uploadId, op.partNumber);
    if (!writer) throw noSuchUpload();
    let md5: string;
    try {
      for await (const chunk of body.chunks) await writer.write(chunk);
      md5 = await body.check();
      await writer.commit(md5);
    } catch (err) {
      await writer.abort();
      throw err;
    }
    x.res.writeHead(200, { ETag: quoteEtag(md5), 'Content-Length': 0 }).end();
    return 200;
  };

  const complete = async (x: S3Exchange, op: Op<'CompleteMultipartUpload'>): Promise<number> => {
    const home = homeOf(op.uploadId);
    if (home) return await d.forward(x, home);
    const info = await uploadOf(op.uploadId, op.name);
    const listed = parseCompleteMultipartUpload(await readSmallBody(x.req));
    const stored = new Map((await store.parts(op.uploadId))?.map((p) => [p.partNumber, p]));
    const parts: StoredPart[] = listed.map(({ partNumber, etag }) => {
      const part = stored.get(partNumber);
      if (!part || part.md5 !== etag.toLowerCase())
        throw new S3Error(
          'InvalidPart',
          `Part ${partNumber} was not uploaded, or its ETag is not the one given; upload it again or list the parts (ListParts).`,
        );
      return part;
    });
    parts.slice(0, -1).forEach((part) => {
      if (part.size < MIN_PART_BYTES)
        throw new S3Error(
          'EntityTooSmall',
          `Part ${part.partNumber} holds ${part.size} bytes; every part but the last must hold at least 5 MiB.`,
        );
    });
    const etag = multipartEtag(parts.map((p) => p.md5));
    const existing = d.recordOf(op.name);
    if (existing && files.locate(op.name, 'write').kind !== 'local')
      throw new S3Error(
        'ServiceUnavailable',
        `"${op.name}" is now changed through another server than the one that kept this upload; start the upload again.`,
      );
    const size = parts.reduce((sum, p) => sum + p.size, 0);
    const chunks = (async function* () {
      for (const part of parts) yield* store.readPart(op.uploadId, part) as AsyncIterable<Buffer>;
    })();
    const description: FileDescription = {
      ...(info.contentType === undefined ? {} : { contentType: info.contentType }),
      metadata: info.metadata ?? {},
    };
    const record = await d.storeFile(op.name, chunks, size, existing, description, () =>
      Promise.resolve({ s3ETag: etag }),
    );
    await store.remove(op.uploadId);
    const host = x.req.headers.host ?? 'localhost';
    return sendXml(
      x.res,
      200,
      completeMultipartUploadXml({
        location: `http://${host}/${op.bucket}/${op.key.split('/').map(encodeURIComponent).join('/')}`,
        bucket: op.bucket,
        key: op.key,
        etag,
      }),
      { 'x-amz-version-id': String(record.version) },
    );
  };

  const abort = async (x: S3Exchange, op: Op<'AbortMultipartUpload'>): Promise<number> => {
    const home = homeOf(op.uploadId);
    if (home) return await d.forward(x, home);
    await uploadOf(op.uploadId, op.name);
    if (!(await store.remove(op.uploadId))) throw noSuchUpload();
    x.res.writeHead(204).end();
    return 204;
  };

  const listParts = async (x: S3Exchange, op: Op<'ListParts'>): Promise<number> => {
    const home = homeOf(op.uploadId);
    if (home) return await d.forward(x, home);
    await uploadOf(op.uploadId, op.name);
    const after = (await store.parts(op.uploadId))!.filter(
      (p) => p.partNumber > op.partNumberMarker,
    );
    const page = after.slice(0, op.maxParts);
    const isTruncated = after.length > page.length;
    return sendXml(
      x.res,
      200,
      listPartsXml({
        bucket: op.bucket,
        key: op.key,
        uploadId: op.uploadId,
        partNumberMarker: op.partNumberMarker,
        nextPartNumberMarker: isTruncated ? page.at(-1)?.partNumber : undefined,
        maxParts: op.maxParts,
        isTruncated,
        parts: page.map((p) => ({
          partNumber: p.partNumber,
          lastModified: new Date(p.storedAt),
          etag: p.md5,
          size: p.size,
        })),
      }),
    );
  };

  /** The uploads in progress on this server (each server lists its own). */
  const listUploads = async (op: Op<'ListMultipartUploads'>): Promise<string> => {
    const prefix = `${op.bucket}/${op.prefix ?? ''}`;
    const all = (await store.list())
      .filter((u) => u.name.startsWith(prefix))
      .map((u) => ({
        key: u.name.slice(op.bucket.length + 1),
        uploadId: u.uploadId,
        initiated: new Date(u.initiated),
      }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.uploadId < b.uploadId ? -1 : 1))
      .filter(
        (u) =>
          op.keyMarker === undefined ||
          u.key > op.keyMarker ||
          (u.key === op.keyMarker &&
            op.uploadIdMarker !== undefined &&
            u.uploadId > op.uploadIdMarker),
      );
    const uploads = all.slice(0, op.maxUploads);
    const isTruncated = all.length > uploads.length;
    const last = uploads.at(-1);
    return listMultipartUploadsXml({
      bucket: op.bucket,
      prefix: op.prefix,
      keyMarker: op.keyMarker,
      uploadIdMarker: op.uploadIdMarker,
      nextKeyMarker: isTruncated ? last?.key : undefined,
      nextUploadIdMarker: isTruncated ? last?.uploadId : undefined,
      maxUploads: op.maxUploads,
      isTruncated,
      uploads,
    });
  };

  return { create, uploadPart, complete, abort, listParts, listUploads };
}

function noSuchUpload(): S3Error {
  return new S3Error(
    'NoSuchUpload',
    'The specified upload does not exist: it was completed, aborted or expired (--multipart-expiry); start it again.',
  );
}
