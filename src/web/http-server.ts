/**
 * The HTTP side of a server (SPEC §3.1), on --http-port: the dashboard at `/`,
 * `/api/status` and `/api/files` (the JSON of `status --json` and `show --json`),
 * `/api/events` (a snapshot, then every event of the server's event stream as it happens), plain file access
 * at `/files/NAME`, and `/metrics`. Every request but `/`, and `/metrics`, needs
 * `Authorization: Bearer <cluster key>` unless the cluster runs --insecure.
 *
 * Files go through the server's FileService, like the TCP session's requests:
 * GET/HEAD stream from the open-file cache (Range, ETag, If-None-Match), or
 * answer 307 to a live holder with a one-file ticket; PUT creates; DELETE runs
 * here or is forwarded by the service to the file's acting primary. The only
 * place that turns error codes into HTTP statuses.
 */
import type { EventStream } from '../events/event-stream.ts';
import { drained } from './drained.ts';
import { serveEventFeed } from './event-feed.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ClusterView } from '../cluster/cluster-view.ts';
import { validateName } from '../protocol/file-name.ts';
import type { FileRecord } from '../protocol/messages.ts';
import type { FileService, OpenForRead } from '../service/file-service.ts';
import { LanfsError, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Credentials } from '../transport/handshake.ts';
import { fileJson, statusJson } from '../protocol/listing.ts';
import { DASHBOARD_HTML } from './dashboard-page.ts';
import type { Metrics } from './metrics.ts';

export interface WebComponents {
  credentials: Credentials;
  /** Where other servers serve HTTP (for 307s). */
  view: ClusterView;
  files: FileService;
  /** The server's events, pushed to /api/events. */
  events: EventStream;
  metrics: Metrics;
  logger: Logger;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  LANFS_ERR_USAGE: 400,
  LANFS_ERR_INVALID_NAME: 400,
  LANFS_ERR_NOT_FOUND: 404,
  LANFS_ERR_NAME_EXISTS: 409,
  LANFS_ERR_EDIT_CONFLICT: 409,
  LANFS_ERR_AUTH_FAILED: 401,
  LANFS_ERR_AUTH_REQUIRED: 401,
  LANFS_ERR_TOO_LARGE: 413,
  LANFS_ERR_UNAVAILABLE: 503,
  LANFS_ERR_NO_SERVER: 503,
  LANFS_ERR_DISK_FULL: 507,
  LANFS_ERR_CHECKSUM_MISMATCH: 400,
};

export function createWebServer(c: WebComponents): Server {
  const authorized = (req: IncomingMessage): boolean => {
    if (c.credentials.insecure) return true;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    if (!match || c.credentials.key === undefined) return false;
    const given = Buffer.from(match[1]!);
    const key = Buffer.from(c.credentials.key);
    return given.length === key.length && timingSafeEqual(given, key);
  };

  const snapshot = (): string =>
    JSON.stringify({
      status: statusJson(c.files.status()),
      files: c.files.list().sort(byName).map(fileJson),
    });

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
  ): Promise<number> => {
    const url = new URL(req.url ?? '/', 'http://lanfs');
    if (req.method === 'GET' && url.pathname === '/')
      return send(res, 200, DASHBOARD_HTML, 'text/html; charset=utf-8');
    if (req.method === 'GET' && url.pathname === '/metrics') {
      return send(res, 200, await c.metrics.registry.metrics(), c.metrics.registry.contentType);
    }
    if (!authorized(req) && !(req.method === 'GET' && validTicket(url, c.credentials))) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="lanfs"');
      return sendJson(res, 401, {
        error: 'This cluster needs its key: send "Authorization: Bearer <key>".',
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/status')
      return sendJson(res, 200, statusJson(c.files.status()));
    if (req.method === 'GET' && url.pathname === '/api/files')
      return sendJson(res, 200, c.files.list().sort(byName).map(fileJson));
    if (req.method === 'GET' && url.pathname === '/api/events')
      return await serveEventFeed(req, res, { stream: c.events, snapshot });
    if (url.pathname.startsWith('/files/')) {
      const name = validateName(decodeURIComponent(url.pathname.slice('/files/'.length)));
      if (req.method === 'GET' || req.method === 'HEAD') return await getFile(req, res, name, c);
      if (req.method === 'PUT') return await putFile(req, res, name, c);
      if (req.method === 'DELETE') {
        await c.files.delete(name);
        res.writeHead(204).end();
        return 204;
      }
    }
    void route;
    return sendJson(res, 404, { error: `Nothing at ${req.method ?? 'GET'} ${url.pathname}.` });
  };

  return createServer((req, res) => {
    const started = process.hrtime.bigint();
    const route = routeOf(req.url ?? '/');
    handle(req, res, route)
      .catch((err: unknown) => {
        if (err instanceof LanfsError)
          return sendJson(res, STATUS_OF[err.code] ?? 500, { error: err.message, code: err.code });
        c.logger.error({ err }, 'HTTP request failed');
        return sendJson(res, 500, {
          error: 'The server hit an internal error; its log has the details.',
        });
      })
      .then((status) => {
        c.metrics.httpRequests.inc({ method: req.method ?? 'GET', route, status: String(status) });
        c.metrics.httpSeconds.observe(
          { method: req.method ?? 'GET', route },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
      })
      .catch(() => undefined);
  });
}

/** How long a redirect's ticket is valid. */
const TICKET_MS = 60_000;

function ticketFor(name: string, expires: number, key: string): string {
  return createHmac('sha256', key).update(`lanfs-http-ticket|GET|${name}|${expires}`).digest('hex');
}

function ticketQuery(name: string, credentials: Credentials): string {
  if (credentials.insecure || credentials.key === undefined) return '';
  const expires = Date.now() + TICKET_MS;
  return `?expires=${expires}&ticket=${ticketFor(name, expires, credentials.key)}`;
}

/** A ticket from a redirect: valid for GET of the one file it names, until it expires. */
function validTicket(url: URL, credentials: Credentials): boolean {
  const ticket = url.searchParams.get('ticket');
  const expires = Number(url.searchParams.get('expires'));
  if (!ticket || !Number.isFinite(expires) || expires < Date.now() || credentials.key === undefined)
    return false;
  if (!url.pathname.startsWith('/files/')) return false;
  let name: string;
  try {
    name = validateName(decodeURIComponent(url.pathname.slice('/files/'.length)));
  } catch {
    return false;
  }
  const expected = Buffer.from(ticketFor(name, expires, credentials.key));
  const given = Buffer.from(ticket);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function byName(a: FileRecord, b: FileRecord): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A label that does not grow with file names. */
function routeOf(url: string): string {
  const path = url.split('?')[0] ?? '/';
  return path.startsWith('/files/') ? '/files/:name' : path;
}

function send(res: ServerResponse, status: number, body: string, type: string): number {
  if (!res.headersSent)
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  return status;
}

function sendJson(res: ServerResponse, status: number, body: unknown): number {
  return send(res, status, `${JSON.stringify(body, null, 2)}\n`, 'application/json; charset=utf-8');
}

/** PUT /files/NAME: a create through the service, the body streamed to it as it arrives. */
async function putFile(
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  c: WebComponents,
): Promise<number> {
  const length = req.headers['content-length'];
  const size = length === undefined ? null : Number(length);
  const handle = await c.files.beginCreate({ name, size });
  let record: FileRecord;
  try {
    for await (const chunk of req) await handle.write(chunk as Buffer);
    // No sha256 comes with an HTTP body: the one the storage takes as the bytes arrive is the file's.
    record = await handle.finish({ size: handle.received });
  } catch (err) {
    // The body failed (client gone) or the service refused: nothing is kept.
    await handle.abort();
    throw err;
  }
  c.metrics.bytesIn.inc({ via: 'http' }, record.size);
  return sendJson(res, 201, fileJson(record));
}

/** A byte range of a file, both ends included. */
interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range of a `Range: bytes=a-b | a- | -n` header: a range, 'unsatisfiable'
 * (416), or undefined to send the whole file (no header, another unit, several
 * ranges or bad syntax, which RFC 9110 lets a server ignore).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) return undefined; // invalid: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

async function getFile(
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  c: WebComponents,
): Promise<number> {
  const location = c.files.locate(name, 'read');
  if (location.kind === 'remote') {
    const http = c.view.httpAddressOf(location.serverId);
    if (!http)
      return sendJson(res, 503, {
        error: `"${name}" is on server ${location.serverId}, which serves no HTTP.`,
      });
    // HTTP clients drop Authorization when a redirect changes host or port (curl -L,
    // fetch): the Location carries a ticket for this one file instead, signed with the
    // key and valid for a minute. The key itself is never put in a URL.
    const path = `/files/${name.split('/').map(encodeURIComponent).join('/')}`;
    res
      .writeHead(307, { Location: `http://${http}${path}${ticketQuery(name, c.credentials)}` })
      .end();
    return 307;
  }
  if (location.kind === 'down')
    return sendJson(res, 503, {
      error: `"${name}" is held by server(s) ${location.holders.join(', ')}, which are down.`,
    });
  if (location.kind === 'none')
    return sendJson(res, 404, { error: `No file named "${name}" exists.` });
  const open = await c.files.openForRead(name);
  try {
    const { record } = open;
    const etag = `"${record.sha256}"`;
    const headers: Record<string, string | number> = {
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'X-Lanfs-Version': String(record.version),
    };
    if (ifNoneMatch(req.headers['if-none-match'], etag)) {
      res.writeHead(304, headers).end();
      return 304;
    }
    // If-Range with another version: the whole (new) file, not a piece of it.
    const ifRange = req.headers['if-range'];
    const range =
      ifRange === undefined || ifRange === etag
        ? parseRange(req.headers.range, record.size)
        : undefined;
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${record.size}` }).end();
      return 416;
    }
    const { start, end } = range ?? { start: 0, end: record.size - 1 };
    const status = range ? 206 : 200;
    res.writeHead(status, {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': end - start + 1,
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${record.size}` } : {}),
      'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name.split('/').pop()!)}`,
    });
    if (req.method === 'HEAD') {
      res.end();
      return status;
    }
    const sent = await sendBytes(open, start, end + 1, res);
    c.metrics.bytesOut.inc({ via: 'http' }, sent);
    return status;
  } finally {
    open.release();
  }
}

function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/** Bytes read per chunk of a download. */
const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Sends bytes [from, to) of an open file: each chunk is read into its own buffer
 * and handed to the socket as is (no copy), the next read running while the
 * socket sends; a file of one chunk goes out with the headers. Stops early if
 * the client leaves. Resolves with the bytes sent.
 */
async function sendBytes(
  open: OpenForRead,
  from: number,
  to: number,
  res: ServerResponse,
): Promise<number> {
  if (open.bytes) {
    // A small file the catalog holds in memory: no read at all.
    res.end(open.bytes.subarray(from, to));
    return Math.min(to, open.bytes.length) - from;
  }
  const read = async (position: number): Promise<Buffer> => {
    const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, to - position));
    const { bytesRead } = await open.handle.read(buffer, 0, buffer.length, position);
    return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  };
  let position = from;
  let next: Promise<Buffer> | undefined = position < to ? read(position) : undefined;
  try {
    while (next && !res.destroyed) {
      const chunk = await next;
      if (chunk.length === 0) break; // the file shrank under us: the client sees a short body
      position += chunk.length;
      next = position < to ? read(position) : undefined;
      if (!next) {
        res.end(chunk); // the last chunk leaves with the end of the response
        return position - from;
      }
      next.catch(() => undefined); // awaited in the next turn; never unhandled meanwhile
      if (!res.write(chunk)) await drained(res);
    }
  } finally {
    // Never release the descriptor under a read in flight.
    await next?.catch(() => undefined);
  }
  res.end();
  return position - from;
}
