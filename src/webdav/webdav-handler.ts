/**
 * WebDAV under `/dav/` (RFC 4918 class 1 and 2): the single system image as a
 * network drive for Finder, Windows Explorer, GNOME/KDE, rclone and davfs2.
 * Folders are the `/` prefixes of names; an empty folder made by MKCOL is a
 * zero-byte marker file `FOLDER/.lanfs-folder`, hidden here, removed when a
 * file lands in the folder and made again when its last file goes. Every file
 * operation goes through the FileService: PUT of an existing name is an edit
 * (the next version), MOVE a create under the new name then a delete of the old
 * one, COPY a create. Files held elsewhere are streamed through this server.
 *
 * Writes of a file whose acting primary is another server (PUT edit, DELETE,
 * MOVE of it, LOCK, UNLOCK, PROPPATCH) are forwarded whole to that server's HTTP
 * side, so the lock table of each file lives on its primary. New names are made
 * here, and this server becomes their primary. Folder locks live on the server
 * that took them. Authentication happened before (web/http-server.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterView } from '../cluster/cluster-view.ts';
import { FOLDER_MARKER, validateName } from '../protocol/file-name.ts';
import type { FileRecord } from '../protocol/messages.ts';
import type { FileService } from '../service/file-service.ts';
import { LanfsError, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { answerFor } from '../http/file-response.ts';
import { relayDownload } from '../http/relayed-download.ts';
import { sendFileBytes } from '../http/send-file.ts';
import { DavAnswer } from './dav-answer.ts';
import { DeadProperties } from './dead-properties.ts';
import {
  BadXmlError,
  dav,
  davError,
  DAV_NS,
  echoElement,
  MAX_XML_BYTES,
  multistatus,
  parseLockInfo,
  parseProppatch,
  parsePropfind,
  parseXml,
  propElement,
  xmlDocument,
  type MultistatusResponse,
  type XmlElement,
  type XmlNode,
} from './dav-xml.ts';
import { FORWARD_HEADER, forwardRequest, hopsOf, send } from '../http/forward.ts';
import {
  evaluateIf,
  IfHeaderSyntaxError,
  parseIfHeader,
  submittedTokens,
  type IfList,
} from './if-header.ts';
import { isWithin, LockTable, timeoutSeconds, type DavLock } from './lock-table.ts';

export const DAV_PREFIX = '/dav/';

const ALLOW =
  'OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK';
/** Files deleted or copied at once by a folder operation. */
const PARALLEL = 8;

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  LANFS_ERR_USAGE: 400,
  LANFS_ERR_INVALID_NAME: 400,
  LANFS_ERR_NOT_FOUND: 404,
  LANFS_ERR_NAME_EXISTS: 409,
  LANFS_ERR_EDIT_CONFLICT: 409,
  LANFS_ERR_TOO_LARGE: 413,
  LANFS_ERR_UNAVAILABLE: 503,
  LANFS_ERR_NO_SERVER: 503,
  LANFS_ERR_DISK_FULL: 507,
  LANFS_ERR_CHECKSUM_MISMATCH: 400,
};

export interface DavComponents {
  files: FileService;
  view: ClusterView;
  logger: Logger;
  /** This server's locks (a new table if not given). */
  locks?: LockTable;
  /** This server's dead properties (a new store if not given). */
  deadProperties?: DeadProperties;
}

/** A request path under /dav/: its lanfs key ('' for the root) and how it was written. */
interface DavPath {
  key: string;
  trailingSlash: boolean;
}

type Resource =
  | { kind: 'file'; key: string; record: FileRecord }
  | { kind: 'folder'; key: string }
  | { kind: 'none'; key: string };

/** The handler of every request under /dav/; resolves with the status sent. */
export type DavHandler = (req: IncomingMessage, res: ServerResponse) => Promise<number>;

export function createDavHandler(c: DavComponents): DavHandler {
  const locks = c.locks ?? new LockTable();
  const dead = c.deadProperties ?? new DeadProperties();
  const files = c.files;

  // ---- the namespace ----

  const recordOf = (key: string): FileRecord | undefined =>
    key === '' ? undefined : c.view.newestHolders(key)[0]?.record;

  /** Every name at or under folder key ('' is everything), markers included. */
  const namesUnder = (key: string): string[] =>
    files
      .list()
      .map((r) => r.name)
      .filter((n) => key === '' || n.startsWith(`${key}/`));

  const folderExists = (key: string, ignoring?: ReadonlySet<string>): boolean => {
    if (key === '') return true;
    if (!ignoring) return c.view.hasNameUnder(`${key}/`);
    return namesUnder(key).some((n) => !ignoring.has(n));
  };

  const resolve = (key: string): Resource => {
    const record = recordOf(key);
    if (record) return { kind: 'file', key, record };
    return folderExists(key) ? { kind: 'folder', key } : { kind: 'none', key };
  };

  /** The files and folders directly in folder key. */
  const childrenOf = (key: string): { files: FileRecord[]; folders: string[] } => {
    const prefix = key === '' ? '' : `${key}/`;
    const found: FileRecord[] = [];
    const folders = new Set<string>();
    for (const record of files.list()) {
      if (!record.name.startsWith(prefix)) continue;
      const rest = record.name.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash >= 0) folders.add(prefix + rest.slice(0, slash));
      else if (rest !== FOLDER_MARKER) found.push(record);
    }
    return { files: found.sort(byName), folders: [...folders].sort() };
  };

  /** After a file landed at name: its folders are no longer empty, so their markers go. */
  const dropMarkersAbove = async (name: string): Promise<void> => {
    let folder = parentOf(name);
    if (name.split('/').pop() === FOLDER_MARKER) folder = parentOf(folder);
    for (; folder !== ''; folder = parentOf(folder)) {
      const marker = `${folder}/${FOLDER_MARKER}`;
      if (c.view.has(marker)) await files.delete(marker).catch(() => undefined);
    }
  };

  /** After names under folder went: keeps the folder (a marker) if nothing else is in it. */
  const keepFolder = async (folder: string, gone: ReadonlySet<string>): Promise<void> => {
    if (folder === '' || folderExists(folder, gone)) return;
    await storeBytes(`${folder}/${FOLDER_MARKER}`, [], 0, undefined).catch((err: unknown) =>
      c.logger.warn({ err, folder }, 'could not keep an emptied WebDAV folder'),
    );
  };

  // ---- bytes in and out ----

  /** Creates name (existing undefined) or edits it here, from body. */
  const storeBytes = async (
    name: string,
    body: AsyncIterable<Buffer> | Buffer[],
    size: number | null,
    existing: FileRecord | undefined,
  ): Promise<FileRecord> => {
    const handle = existing
      ? await files.beginEdit({ name, size, baseVersion: existing.version })
      : await files.beginCreate({ name, size });
    try {
      for await (const chunk of body) await handle.write(chunk);
      return await handle.finish({ size: handle.received });
    } catch (err) {
      await handle.abort();
      throw err;
    }
  };

  /** Where writes of an existing file run: undefined for here, else that server's HTTP address. */
  const writerOf = (name: string): string | undefined => {
    const location = files.locate(name, 'write');
    if (location.kind === 'local' || location.kind === 'none') return undefined;
    if (location.kind === 'down') throw unavailable(name);
    const http = c.view.httpAddressOf(location.serverId);
    if (!http)
      throw new DavAnswer(
        503,
        `"${name}" is changed through server ${location.serverId}, which serves no HTTP (start it with --http-port) ; try again there.`,
      );
    return http;
  };

  /** Copies file from onto to (a new name, or the next version of an existing one). */
  const copyFile = async (
    req: IncomingMessage,
    from: FileRecord,
    to: string,
    existing: FileRecord | undefined,
  ): Promise<void> => {
    const writer = existing ? writerOf(to) : undefined;
    if (writer) {
      // The destination's primary is elsewhere: a PUT there makes its next version.
      const headers = {
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(req.headers.if ? { if: req.headers.if } : {}),
        'content-length': String(from.size),
        [FORWARD_HEADER]: String(hopsOf(req) + 1),
      };
      const { answer } = await send(
        writer,
        'PUT',
        hrefOf(to, false),
        headers,
        files.readBytes(from.name),
        refuse,
      );
      answer.resume();
      const status = answer.statusCode ?? 502;
      if (status >= 300)
        throw new DavAnswer(status, `The server holding "${to}" refused the new version.`);
      return;
    }
    await storeBytes(to, files.readBytes(from.name), from.size, existing);
    if (!existing) await dropMarkersAbove(to);
  };

  /** Deletes every name under folder key; the names that failed, with their status. */
  const deleteTree = async (key: string): Promise<{ deleted: Set<string>; failed: Failure[] }> => {
    const deleted = new Set<string>();
    const failed: Failure[] = [];
    await inBatches(namesUnder(key), async (name) => {
      try {
        await files.delete(name);
        deleted.add(name);
      } catch (err) {
        failed.push({ name, status: statusOf(err) });
      }
    });
    return { deleted, failed };
  };

  // ---- locks and conditions ----

  const keyOfTag = (tag: string): string | undefined => {
    try {
      return pathOf(new URL(tag, 'http://lanfs').pathname).key;
    } catch {
      return undefined;
    }
  };

  /**
   * Checks a write against the If header and the locks: 412 if the header does
   * not hold (untagged lists are about requestKey), 423 if a lock on a resource
   * it changes (deep: and everything under it) was not submitted.
   */
  const checkWrite = (
    req: IncomingMessage,
    requestKey: string,
    targets: { key: string; deep: boolean }[],
  ): void => {
    const lists = ifListsOf(req);
    // A header that does not hold is 412 first (litmus fail_cond_put); then the locks.
    if (lists.length > 0 && !ifHolds(lists, requestKey))
      throw new DavAnswer(412, 'The If header does not match the current state of the resource.');
    const tokens = submittedTokens(lists);
    for (const { key, deep } of targets) {
      const paths = new Set([key, ...(deep ? locks.within(key).map((l) => l.path) : [])]);
      for (const path of paths) {
        const held = locks.covering(path);
        if (held.length > 0 && !held.some((l) => tokens.has(l.token)))
          throw new DavAnswer(
            423,
            `"/${path}" is locked: send its lock token in an If header, or wait until the lock ends.`,
            davError('lock-token-submitted'),
          );
      }
    }
  };

  const ifHolds = (lists: IfList[], requestKey: string): boolean =>
    evaluateIf(lists, (tag) => {
      const key = tag === undefined ? requestKey : keyOfTag(tag);
      if (key === undefined) return { etag: undefined, lockTokens: new Set() };
      const record = recordOf(key);
      return {
        etag: record ? davEtagOf(record) : undefined,
        lockTokens: new Set(locks.covering(key).map((l) => l.token)),
      };
    });

  const lockDiscovery = (held: DavLock[]): XmlNode => dav('lockdiscovery', ...held.map(activeLock));

  const activeLock = (lock: DavLock): XmlNode =>
    dav(
      'activelock',
      dav('locktype', dav('write')),
      dav('lockscope', dav(lock.scope)),
      dav('depth', lock.depth === '0' ? '0' : 'infinity'),
      ...(lock.owner ? [echoElement(lock.owner as XmlElement)] : []),
      dav('timeout', `Second-${Math.max(0, Math.ceil((lock.expiresAt - Date.now()) / 1000))}`),
      dav('locktoken', dav('href', lock.token)),
      dav('lockroot', dav('href', hrefOf(lock.path, resolve(lock.path).kind === 'folder'))),
    );

  // ---- properties ----

  const LIVE_PROPS = [
    'resourcetype',
    'displayname',
    'getcontentlength',
    'getcontenttype',
    'getetag',
    'getlastmodified',
    'creationdate',
    'supportedlock',
    'lockdiscovery',
  ];

  const propValue = (resource: Resource, name: string): XmlNode | undefined => {
    const record = resource.kind === 'file' ? resource.record : undefined;
    switch (name) {
      case 'resourcetype':
        return record ? dav('resourcetype') : dav('resourcetype', dav('collection'));
      case 'displayname':
        return dav('displayname', resource.key.split('/').pop() ?? '');
      case 'supportedlock':
        return dav(
          'supportedlock',
          ...(['exclusive', 'shared'] as const).map((scope) =>
            dav('lockentry', dav('lockscope', dav(scope)), dav('locktype', dav('write'))),
          ),
        );
      case 'lockdiscovery':
        return lockDiscovery(locks.covering(resource.key));
    }
    if (!record) return undefined;
    switch (name) {
      case 'getcontentlength':
        return dav('getcontentlength', String(record.size));
      case 'getcontenttype':
        return dav('getcontenttype', contentTypeOf(record.name));
      case 'getetag':
        return dav('getetag', davEtagOf(record));
      case 'getlastmodified':
        return dav('getlastmodified', new Date(record.modifiedAt).toUTCString());
      case 'creationdate':
        return dav('creationdate', new Date(record.modifiedAt).toISOString());
    }
    return undefined;
  };

  const propResponse = (
    resource: Resource,
    request: ReturnType<typeof parsePropfind>,
  ): MultistatusResponse => {
    const href = hrefOf(resource.key, resource.kind === 'folder');
    const deadOnes = dead.of(resource.key);
    if (request.kind === 'propname') {
      const names = LIVE_PROPS.filter((n) => propValue(resource, n) !== undefined);
      const props = [...names.map((n) => dav(n)), ...deadOnes.map((d) => propElement(d))];
      return { href, propstats: [{ status: 200, props }] };
    }
    if (request.kind === 'allprop') {
      const props = LIVE_PROPS.map((n) => propValue(resource, n)).filter((p) => p !== undefined);
      return {
        href,
        propstats: [{ status: 200, props: [...props, ...deadOnes.map(echoElement)] }],
      };
    }
    const found: XmlNode[] = [];
    const missing: XmlNode[] = [];
    for (const prop of request.props) {
      const stored = dead.get(resource.key, prop);
      const value = stored
        ? echoElement(stored)
        : prop.ns === DAV_NS
          ? propValue(resource, prop.name)
          : undefined;
      if (value) found.push(value);
      else missing.push(propElement(prop));
    }
    const propstats = [
      ...(found.length > 0 ? [{ status: 200, props: found }] : []),
      ...(missing.length > 0 ? [{ status: 404, props: missing }] : []),
    ];
    return { href, propstats };
  };

  // ---- methods ----

  const options = (res: ServerResponse): number => {
    res
      .writeHead(200, { DAV: '1, 2', Allow: ALLOW, 'MS-Author-Via': 'DAV', 'Content-Length': 0 })
      .end();
    return 200;
  };

  const get = async (req: IncomingMessage, res: ServerResponse, p: DavPath): Promise<number> => {
    const resource = resolve(p.key);
    if (resource.kind === 'none') throw notFound(p.key);
    if (resource.kind === 'folder') {
      const { files: inside, folders } = childrenOf(p.key);
      const items = [
        ...folders.map(
          (f) => `<li><a href="${hrefOf(f, true)}">${escapeHtml(baseName(f))}/</a></li>`,
        ),
        ...inside.map(
          (r) => `<li><a href="${hrefOf(r.name, false)}">${escapeHtml(baseName(r.name))}</a></li>`,
        ),
      ];
      const html = `<!doctype html><meta charset="utf-8"><title>lanfs /${escapeHtml(p.key)}</title><ul>${items.join('')}</ul>\n`;
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(html),
      });
      res.end(req.method === 'HEAD' ? undefined : html);
      return 200;
    }
    const record = resource.record;
    res.setHeader('Last-Modified', new Date(record.modifiedAt).toUTCString());
    const location = files.locate(p.key, 'read');
    if (location.kind === 'remote') {
      // relayDownload speaks the /files/ ETags (hex): conditions in, ETag out, translated.
      for (const name of ['if-none-match', 'if-range'] as const) {
        const value = req.headers[name];
        if (typeof value === 'string') req.headers[name] = value.replace(DAV_ETAG, httpEtag);
      }
      const writeHead = res.writeHead.bind(res);
      res.writeHead = ((status: number, headers?: Record<string, string | number>) =>
        writeHead(status, {
          ...headers,
          ...(headers?.ETag === undefined ? {} : { ETag: davEtag(String(headers.ETag)) }),
        })) as typeof res.writeHead;
      const { status } = await relayDownload(req, res, files, {
        name: p.key,
        serverId: location.serverId,
        known: record,
      });
      return status;
    }
    if (location.kind !== 'local') throw unavailable(p.key);
    const open = await files.openForRead(p.key);
    try {
      const answer = answerFor(davRecord(open.record), {
        ifNoneMatch: header(req, 'if-none-match'),
        ifRange: header(req, 'if-range'),
        range: header(req, 'range'),
      });
      const headers = { ...answer.headers };
      delete headers['Content-Disposition'];
      if ('start' in answer) headers['Content-Type'] = contentTypeOf(p.key);
      res.writeHead(answer.status, headers);
      if (req.method === 'HEAD' || !('start' in answer) || answer.end < answer.start) {
        res.end();
        return answer.status;
      }
      await sendFileBytes(open, answer.start, answer.end + 1, res);
      return answer.status;
    } finally {
      open.release();
    }
  };

  const put = async (req: IncomingMessage, res: ServerResponse, p: DavPath): Promise<number> => {
    if (p.key === '' || p.trailingSlash)
      throw new DavAnswer(405, 'A folder cannot be uploaded to; PUT a file name.');
    const resource = resolve(p.key);
    if (resource.kind === 'folder')
      throw new DavAnswer(405, `"/${p.key}" is a folder; PUT a file name inside it.`);
    const length = req.headers['content-length'];
    const size = length === undefined ? null : Number(length);
    const ifMatch = header(req, 'if-match');
    const ifNoneMatch = header(req, 'if-none-match');
    if (resource.kind === 'file') {
      const writer = writerOf(p.key);
      if (writer) return await forwardRequest(req, res, writer, refuse);
      checkWrite(req, p.key, [{ key: p.key, deep: false }]);
      const etag = davEtagOf(resource.record);
      if (ifNoneMatch !== undefined && matchesEtag(ifNoneMatch, etag))
        throw new DavAnswer(412, `"/${p.key}" exists (If-None-Match); nothing was written.`);
      if (ifMatch !== undefined && !matchesEtag(ifMatch, etag))
        throw new DavAnswer(
          412,
          `"/${p.key}" has changed since that ETag; fetch it again, then retry.`,
        );
      const record = await storeBytes(p.key, req, size, resource.record);
      res.writeHead(204, { ETag: davEtagOf(record) }).end();
      return 204;
    }
    if (ifMatch !== undefined)
      throw new DavAnswer(412, `"/${p.key}" does not exist (If-Match); nothing was written.`);
    if (!folderExists(parentOf(p.key))) throw noParent(p.key);
    checkWrite(req, p.key, [{ key: p.key, deep: false }]);
    const record = await storeBytes(p.key, req, size, undefined);
    await dropMarkersAbove(p.key);
    res.writeHead(201, { ETag: davEtagOf(record), 'Content-Length': 0 }).end();
    return 201;
  };

  const remove = async (req: IncomingMessage, res: ServerResponse, p: DavPath): Promise<number> => {
    if (p.key === '') throw new DavAnswer(403, 'The root folder cannot be deleted.');
    const resource = resolve(p.key);
    if (resource.kind === 'none') throw notFound(p.key);
    if (resource.kind === 'file') {
      const writer = writerOf(p.key);
      if (writer) return await forwardRequest(req, res, writer, refuse);
      checkWrite(req, p.key, [{ key: p.key, deep: false }]);
      await files.delete(p.key);
      locks.drop(p.key);
      dead.drop(p.key);
      await keepFolder(parentOf(p.key), new Set([p.key]));
      res.writeHead(204).end();
      return 204;
    }
    checkWrite(req, p.key, [{ key: p.key, deep: true }]);
    const { deleted, failed } = await deleteTree(p.key);
    if (failed.length > 0) return sendMultistatus(res, failed);
    locks.drop(p.key);
    dead.drop(p.key);
    await keepFolder(parentOf(p.key), deleted);
    res.writeHead(204).end();
    return 204;
  };

  const mkcol = async (req: IncomingMessage, res: ServerResponse, p: DavPath): Promise<number> => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > 0 || req.headers['transfer-encoding'] !== undefined) {
      res.setHeader('Connection', 'close');
      throw new DavAnswer(415, 'MKCOL takes no body here; send it empty.');
    }
    const resource = resolve(p.key);
    if (resource.kind !== 'none') throw new DavAnswer(405, `"/${p.key}" already exists.`);
    if (!folderExists(parentOf(p.key))) throw noParent(p.key);
    checkWrite(req, p.key, [{ key: p.key, deep: false }]);
    const marker = `${p.key}/${FOLDER_MARKER}`;
    await storeBytes(marker, [], 0, undefined);
    await dropMarkersAbove(marker);
    res.writeHead(201, { 'Content-Length': 0 }).end();
    return 201;
  };

  const copyOrMove = async (
    req: IncomingMessage,
    res: ServerResponse,
    p: DavPath,
    move: boolean,
  ): Promise<number> => {
    const destination = destinationOf(req);
    const verb = move ? 'moved' : 'copied';
    if (p.key === '') throw new DavAnswer(403, `The root folder cannot be ${verb}.`);
    if (isWithin(destination.key, p.key) || (move && isWithin(p.key, destination.key)))
      throw new DavAnswer(
        403,
        `"/${p.key}" cannot be ${verb} onto itself or into a folder of its own.`,
      );
    const source = resolve(p.key);
    if (source.kind === 'none') throw notFound(p.key);
    if (move && source.kind === 'file') {
      const writer = writerOf(p.key);
      if (writer) return await forwardRequest(req, res, writer, refuse);
    }
    const overwrite = (header(req, 'overwrite') ?? 'T').trim().toUpperCase() !== 'F';
    const depth = header(req, 'depth')?.trim().toLowerCase() ?? 'infinity';
    if (source.kind === 'folder' && depth !== 'infinity' && (move || depth !== '0'))
      throw new DavAnswer(400, `A folder is ${verb} with Depth: infinity${move ? '' : ' or 0'}.`);
    if (!folderExists(parentOf(destination.key))) throw noParent(destination.key);
    const target = resolve(destination.key);
    if (target.kind !== 'none' && !overwrite)
      throw new DavAnswer(
        412,
        `"/${destination.key}" exists and Overwrite is F; nothing was ${verb}.`,
      );
    checkWrite(req, p.key, [
      { key: destination.key, deep: true },
      ...(move ? [{ key: p.key, deep: true }] : []),
    ]);
    const created = target.kind === 'none' ? 201 : 204;
    // The destination is replaced, properties included; the source's follow (RFC 4918 §9.8.2).
    dead.drop(destination.key);
    dead.copy(p.key, destination.key);
    if (move) dead.drop(p.key);

    if (source.kind === 'file') {
      // A folder in the way goes; a file in the way gets the next version.
      if (target.kind === 'folder') {
        const { failed } = await deleteTree(destination.key);
        if (failed.length > 0) return sendMultistatus(res, failed);
      }
      const existing = target.kind === 'file' ? target.record : undefined;
      await copyFile(req, source.record, destination.key, existing);
      if (move) {
        await files.delete(p.key);
        locks.drop(p.key);
        await keepFolder(parentOf(p.key), new Set([p.key]));
      }
      res.writeHead(created, { 'Content-Length': 0 }).end();
      return created;
    }

    if (target.kind === 'file') await files.delete(destination.key);
    if (target.kind === 'folder') {
      const { failed } = await deleteTree(destination.key);
      if (failed.length > 0) return sendMultistatus(res, failed);
    }
    const failed: Failure[] = [];
    const moved = new Set<string>();
    if (!move && depth === '0') {
      const marker = `${destination.key}/${FOLDER_MARKER}`;
      await storeBytes(marker, [], 0, undefined);
      await dropMarkersAbove(marker);
    } else {
      const names = namesUnder(p.key);
      await inBatches(names, async (name) => {
        const to = destination.key + name.slice(p.key.length);
        try {
          const record = recordOf(name);
          if (!record) throw notFound(name);
          await copyFile(req, record, to, undefined);
          if (move) {
            await files.delete(name);
            moved.add(name);
          }
        } catch (err) {
          failed.push({ name, status: statusOf(err) });
        }
      });
    }
    if (move) {
      if (failed.length === 0) locks.drop(p.key);
      await keepFolder(parentOf(p.key), moved);
    }
    if (failed.length > 0) return sendMultistatus(res, failed);
    res.writeHead(created, { 'Content-Length': 0 }).end();
    return created;
  };

  const propfind = async (
    req: IncomingMessage,
    res: ServerResponse,
    p: DavPath,
  ): Promise<number> => {
    const depth = header(req, 'depth')?.trim().toLowerCase() ?? 'infinity';
    if (depth !== '0' && depth !== '1') {
      await drain(req);
      throw new DavAnswer(
        403,
        'PROPFIND with Depth: infinity is refused; ask for Depth: 0 or 1.',
        davError('propfind-finite-depth'),
      );
    }
    const request = parsePropfind(await readXmlBody(req, res));
    const resource = resolve(p.key);
    if (resource.kind === 'none') throw notFound(p.key);
    const responses = [propResponse(resource, request)];
    if (depth === '1' && resource.kind === 'folder') {
      const { files: inside, folders } = childrenOf(p.key);
      for (const folder of folders)
        responses.push(propResponse({ kind: 'folder', key: folder }, request));
      for (const record of inside)
        responses.push(propResponse({ kind: 'file', key: record.name, record }, request));
    }
    return sendXml(res, 207, multistatus(responses));
  };

  const proppatch = async (
    req: IncomingMessage,
    res: ServerResponse,
    p: DavPath,
  ): Promise<number> => {
    const resource = resolve(p.key);
    if (resource.kind === 'none') throw notFound(p.key);
    if (resource.kind === 'file') {
      const writer = writerOf(p.key);
      if (writer) return await forwardRequest(req, res, writer, refuse);
    }
    const changes = parseProppatch(await readXmlBody(req, res));
    checkWrite(req, p.key, [{ key: p.key, deep: false }]);
    const names = changes.map((ch) => (ch.op === 'set' ? ch.value : ch.prop));
    // All or none (RFC 4918 §9.2): live DAV: properties are computed, so setting one fails all.
    const live = names.filter((n) => n.ns === DAV_NS && LIVE_PROPS.includes(n.name));
    let propstats: { status: number; props: XmlNode[] }[];
    if (live.length > 0) {
      const others = names.filter((n) => !live.includes(n));
      propstats = [
        { status: 403, props: live.map((n) => propElement(n)) },
        ...(others.length > 0 ? [{ status: 424, props: others.map((n) => propElement(n)) }] : []),
      ];
    } else if (!dead.apply(p.key, changes)) {
      propstats = [{ status: 507, props: names.map((n) => propElement(n)) }];
    } else propstats = [{ status: 200, props: names.map((n) => propElement(n)) }];
    return sendXml(
      res,
      207,
      multistatus([{ href: hrefOf(p.key, resource.kind === 'folder'), propstats }]),
    );
  };

  const lock = async (req: IncomingMessage, res: ServerResponse, p: DavPath): Promise<number> => {
    const resource = resolve(p.key);
    if (resource.kind === 'file') {
      const writer = writerOf(p.key);
      if (writer) return await forwardRequest(req, res, writer, refuse);
    }
    const body = await readXmlBody(req, res);
    const seconds = timeoutSeconds(header(req, 'timeout'));
    if (!body) {
      // A refresh: the lock named in the If header starts its timeout again.
      const tokens = submittedTokens(ifListsOf(req));
      if (tokens.size === 0)
        throw new DavAnswer(
          400,
          'A LOCK without a body refreshes a lock: send its token in an If header.',
        );
      if (resource.kind === 'none') throw notFound(p.key);
      const refreshed = [...tokens].map((t) => locks.refresh(t, p.key, seconds)).find((l) => l);
      if (!refreshed)
        throw new DavAnswer(412, 'No lock with that token covers this resource; take a new lock.');
      return sendXml(res, 200, xmlDocument(dav('prop', lockDiscovery([refreshed]))));
    }
    const info = parseLockInfo(body);
    const depth = header(req, 'depth')?.trim().toLowerCase() ?? 'infinity';
    if (depth !== '0' && depth !== 'infinity')
      throw new DavAnswer(400, 'A LOCK takes Depth: 0 or infinity.');
    if (resource.kind === 'none' && !folderExists(parentOf(p.key))) throw noParent(p.key);
    const result = locks.lock({
      path: p.key,
      scope: info.scope,
      depth,
      owner: info.owner,
      timeoutSeconds: seconds,
    });
    if (!result.ok && result.reason === 'full')
      throw new DavAnswer(
        503,
        'This server holds as many locks as it takes; unlock some or wait for them to time out.',
      );
    if (!result.ok)
      throw new DavAnswer(
        423,
        `"/${p.key}" is already locked; wait until that lock ends.`,
        davError('no-conflicting-lock'),
      );
    let status = 200;
    if (resource.kind === 'none') {
      // RFC 4918 §9.10.4: locking an unmapped URL makes an empty file there.
      try {
        await storeBytes(p.key, [], 0, undefined);
        await dropMarkersAbove(p.key);
      } catch (err) {
        locks.unlock(result.lock.token, p.key);
        throw err;
      }
      status = 201;
    }
    res.setHeader('Lock-Token', `<${result.lock.token}>`);
    return sendXml(res, status, xmlDocument(dav('prop', lockDiscovery([result.lock]))));
  };

  const unlock = async (req: IncomingMessage, res: ServerResponse, p: DavPath): Promise<number> => {
    const resource = resolve(p.key);
    if (resource.kind === 'file') {
      const writer = writerOf(p.key);
      if (writer) return await forwardRequest(req, res, writer, refuse);
    }
    const token = /^\s*<([^>]+)>\s*$/.exec(header(req, 'lock-token') ?? '')?.[1];
    if (!token) throw new DavAnswer(400, 'UNLOCK needs the header "Lock-Token: <token>".');
    if (!locks.unlock(token, p.key))
      throw new DavAnswer(
        409,
        'No lock with that token covers this resource.',
        davError('lock-token-matches-request-uri'),
      );
    res.writeHead(204).end();
    return 204;
  };

  const METHODS: Record<
    string,
    (req: IncomingMessage, res: ServerResponse, p: DavPath) => Promise<number>
  > = {
    GET: get,
    HEAD: get,
    PUT: put,
    DELETE: remove,
    MKCOL: mkcol,
    COPY: (req, res, p) => copyOrMove(req, res, p, false),
    MOVE: (req, res, p) => copyOrMove(req, res, p, true),
    PROPFIND: propfind,
    PROPPATCH: proppatch,
    LOCK: lock,
    UNLOCK: unlock,
  };

  return async (req, res) => {
    const method = req.method ?? 'GET';
    try {
      const p = pathOf((req.url ?? '/').split('?')[0]!);
      if (method === 'OPTIONS') return options(res);
      const run = METHODS[method];
      if (!run) {
        res.setHeader('Allow', ALLOW);
        throw new DavAnswer(405, `${method} is not a WebDAV method this server takes.`);
      }
      await files.current(); // the view may be behind just after a start or a stall
      return await run(req, res, p);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return 500;
      }
      if (err instanceof DavAnswer) {
        if (err.xml) return sendXml(res, err.status, err.xml);
        return sendText(res, err.status, err.message);
      }
      if (err instanceof BadXmlError || err instanceof IfHeaderSyntaxError) {
        res.setHeader('Connection', 'close');
        return sendText(res, 400, err.message);
      }
      if (err instanceof LanfsError) {
        const status = STATUS_OF[err.code] ?? 500;
        return sendText(
          res,
          status,
          status === 404 ? 'Nothing is stored under that name.' : err.message,
        );
      }
      c.logger.error({ err }, 'WebDAV request failed');
      return sendText(res, 500, 'The server hit an internal error; its log has the details.');
    }
  };
}

interface Failure {
  name: string;
  status: number;
}

/** A server that could not be reached for a forwarded request: 503, as WebDAV says it. */
function refuse(message: string): DavAnswer {
  return new DavAnswer(503, message);
}

function sendMultistatus(res: ServerResponse, failed: Failure[]): number {
  return sendXml(
    res,
    207,
    multistatus(failed.map((f) => ({ href: hrefOf(f.name, false), status: f.status }))),
  );
}

function statusOf(err: unknown): number {
  if (err instanceof DavAnswer) return err.status;
  if (err instanceof LanfsError) return STATUS_OF[err.code] ?? 500;
  return 500;
}

/** Runs work over items, a few at a time. */
async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += PARALLEL)
    await Promise.all(items.slice(i, i + PARALLEL).map(work));
}

/**
 * The lanfs key of a raw request path under /dav/: percent-decoded per segment,
 * NFC, checked by the name rules. `..`, `.`, empty parts and the folder marker
 * are refused with 400 before anything is touched.
 */
export function pathOf(raw: string): DavPath {
  if (raw === '/dav' || raw === '/dav/') return { key: '', trailingSlash: true };
  if (!raw.startsWith(DAV_PREFIX)) throw new DavAnswer(400, 'WebDAV paths start with /dav/.');
  let rest = raw.slice(DAV_PREFIX.length);
  const trailingSlash = rest.endsWith('/');
  if (trailingSlash) rest = rest.slice(0, -1);
  let segments: string[];
  try {
    segments = rest.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new DavAnswer(400, 'The path is not valid percent-encoded UTF-8.');
  }
  if (segments.some((s) => s === '..' || s === '.'))
    throw new DavAnswer(400, 'Paths with "." or ".." parts are refused; name the file directly.');
  if (segments.includes(FOLDER_MARKER))
    throw new DavAnswer(403, `"${FOLDER_MARKER}" is reserved for lanfs's empty folders.`);
  const joined = segments.join('/');
  try {
    return { key: validateName(joined), trailingSlash };
  } catch (err) {
    throw new DavAnswer(400, err instanceof Error ? err.message : 'That name is not valid.');
  }
}

/** The Destination of a COPY or MOVE, as a key; only this cluster's /dav/ namespace. */
function destinationOf(req: IncomingMessage): DavPath {
  const value = header(req, 'destination');
  if (!value) throw new DavAnswer(400, 'COPY and MOVE need a Destination header.');
  let raw: string;
  try {
    const url = new URL(value, 'http://lanfs');
    raw = url.pathname;
    // URL resolves ".." away; the raw header must not have any.
    if (/(^|\/)\.\.?(\/|$)/.test(value.replace(/^[a-z]+:\/\/[^/]*/i, '').split('?')[0]!))
      throw new DavAnswer(400, 'Destinations with "." or ".." parts are refused.');
  } catch (err) {
    if (err instanceof DavAnswer) throw err;
    throw new DavAnswer(400, 'The Destination header is not a URL.');
  }
  if (raw === '/dav' || raw === '/dav/')
    throw new DavAnswer(403, 'The root folder cannot be replaced.');
  if (!raw.startsWith(DAV_PREFIX))
    throw new DavAnswer(502, 'The Destination must be under /dav/ on this cluster.');
  return pathOf(raw);
}

function ifListsOf(req: IncomingMessage): IfList[] {
  const value = header(req, 'if');
  return value === undefined ? [] : parseIfHeader(value);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The request body as XML (undefined if empty); over 1 MiB or not XML is a 400. */
async function readXmlBody(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<XmlElement | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_XML_BYTES) {
      res.setHeader('Connection', 'close');
      throw new BadXmlError(`Request bodies are limited to ${MAX_XML_BYTES} bytes of XML.`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() === '' ? undefined : parseXml(text);
}

async function drain(req: IncomingMessage): Promise<void> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_XML_BYTES) break;
  }
}

function matchesEtag(list: string, etag: string): boolean {
  return list
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

function parentOf(key: string): string {
  const slash = key.lastIndexOf('/');
  return slash < 0 ? '' : key.slice(0, slash);
}

function baseName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The href of a key: /dav/ and each segment percent-encoded; folders end with /. */
export function hrefOf(key: string, folder: boolean): string {
  if (key === '') return DAV_PREFIX;
  return DAV_PREFIX + key.split('/').map(encodeURIComponent).join('/') + (folder ? '/' : '');
}

function byName(a: FileRecord, b: FileRecord): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function notFound(key: string): DavAnswer {
  return new DavAnswer(404, `Nothing is stored at "/${key}"; PROPFIND its folder to list what is.`);
}

function noParent(key: string): DavAnswer {
  return new DavAnswer(
    409,
    `The folder "/${parentOf(key)}" does not exist; create it first (MKCOL).`,
  );
}

function unavailable(name: string): DavAnswer {
  return new DavAnswer(
    503,
    `The servers holding "${name}" are down; try again when one is back (GET /api/status shows them).`,
  );
}

function sendText(res: ServerResponse, status: number, message: string): number {
  const body = `${message}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  return status;
}

function sendXml(res: ServerResponse, status: number, body: string): number {
  res.writeHead(status, {
    'Content-Type': 'application/xml; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  return status;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const CONTENT_TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css',
  csv: 'text/csv',
  js: 'text/javascript',
  json: 'application/json',
  xml: 'application/xml',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  webp: 'image/webp',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

/** A file's media type, by its extension. */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  const ext = dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/**
 * The WebDAV ETag of a file: its sha256 in base64url (43 characters) rather than
 * the 64 hex digits of /files/. neon-based clients (litmus among them) cut an If
 * header at 200 bytes, and one with a lock token and two hex ETags is longer.
 */
export function davEtagOf(record: { sha256: string }): string {
  return `"${Buffer.from(record.sha256, 'hex').toString('base64url')}"`;
}

/** The record with its sha256 written as the WebDAV ETag shows it (for answerFor). */
function davRecord(record: FileRecord): FileRecord {
  return { ...record, sha256: Buffer.from(record.sha256, 'hex').toString('base64url') };
}

/** A quoted base64url sha256 in a header. */
const DAV_ETAG = /"([A-Za-z0-9_-]{43})"/g;

function httpEtag(_quoted: string, base64: string): string {
  return `"${Buffer.from(base64, 'base64url').toString('hex')}"`;
}

/** The hex ETag of /files/ as WebDAV shows it. */
function davEtag(quoted: string): string {
  const hex = /^"([0-9a-f]{64})"$/.exec(quoted)?.[1];
  return hex ? davEtagOf({ sha256: hex }) : quoted;
}
