/**
 * The HTTP side of a server (SPEC §3.1), on --http-port: the dashboard at `/`,
 * `/api/status` and `/api/files` (the JSON of `status --json` and `show --json`),
 * `/api/events` (a snapshot, then every event of the server's event stream as it
 * happens), plain file access at `/files/NAME`, and `/metrics`. Every request but
 * `/` and `/metrics` needs `Authorization: Bearer <cluster key>` unless the
 * cluster runs --insecure. A path that is no route is 404, a method a route does
 * not take 405 with `Allow`.
 *
 * Files go through the server's FileService, like the TCP session's requests:
 * GET/HEAD stream from the open-file cache (Range, ETag, If-None-Match), or
 * answer 307 to a live holder with a one-file ticket, or stream the holder's
 * bytes through (relayed-download.ts); PUT creates; DELETE runs here or is
 * forwarded by the service to the file's acting primary. The only place that
 * turns error codes into HTTP statuses, with sentences for HTTP users.
 */
import type { EventStream } from '../events/event-stream.ts';
import { serveEventFeed } from './event-feed.ts';
import { putEdit } from './file-edit.ts';
import { listingQuery, serveFileListing, SNAPSHOT_FILES } from './file-listing.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { ClusterView } from '../cluster/cluster-view.ts';
import { validateName } from '../protocol/file-name.ts';
import type { FileRecord } from '../protocol/messages.ts';
import type { FileService } from '../service/file-service.ts';
import { AuthError, InvalidNameError, LanfsError, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Credentials } from '../transport/handshake.ts';
import { fileJson, historyJson, statusJson, trashJson } from '../protocol/listing.ts';
import { DASHBOARD_HTML } from './dashboard-page.ts';
import { answerFor } from '../http/file-response.ts';
import { sendFileBytes } from '../http/send-file.ts';
import type { Metrics } from './metrics.ts';
import { relayDownload } from '../http/relayed-download.ts';
import { createDavHandler } from '../webdav/webdav-handler.ts';
import { createS3Handler, isS3Request, type MultipartStore } from '../s3/index.ts';
import type { Scrubber } from '../cluster/scrubber.ts';

export interface WebComponents {
  credentials: Credentials;
  /** Where other servers serve HTTP (for 307s). */
  view: ClusterView;
  files: FileService;
  /** The server's events, pushed to /api/events. */
  events: EventStream;
  metrics: Metrics;
  logger: Logger;
  /** This server's S3 multipart uploads in progress (the S3 front end's parts). */
  multipart: MultipartStore;
  /** What the scrubs found (issue 13): `verified` in /api/files, as in `show --json`. */
  scrubber?: Pick<Scrubber, 'clusterReport'>;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  LANFS_ERR_USAGE: 400,
  LANFS_ERR_INVALID_NAME: 400,
  LANFS_ERR_INVALID_METADATA: 400,
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

/** Where a person using HTTP finds the files, for messages about a name that is not there. */
const LISTING_HINT = 'GET /api/files lists the files';

/** Every route and the methods it answers; anything else is 404, or 405 with Allow. */
const ROUTES: ReadonlyMap<string, readonly string[]> = new Map([
  ['/', ['GET', 'HEAD']],
  ['/metrics', ['GET', 'HEAD']],
  ['/api/status', ['GET', 'HEAD']],
  ['/api/files', ['GET', 'HEAD']],
  ['/api/events', ['GET']],
  ['/files/:name', ['GET', 'HEAD', 'PUT', 'DELETE']],
  // Issue 14: kept versions and the trash.
  ['/api/history/:name', ['GET', 'HEAD']],
  ['/api/restore/:name', ['POST']],
  ['/api/trash', ['GET', 'HEAD']],
  ['/api/undelete/:name', ['POST']],
]);

/** Routes whose path ends with a file name (`/api/history/notes.txt`). */
const NAMED_ROUTES = ['/api/history/', '/api/restore/', '/api/undelete/'] as const;

/** Every path under /dav/ (WebDAV, webdav/webdav-handler.ts), one label in /metrics. */
const DAV_ROUTE = '/dav/';
/**
 * Every SigV4-signed request, whatever its path (S3, s3/s3-handler.ts), one label in
 * /metrics. S3 is at the root of the port because s3cmd cannot put a path in its endpoint.
 */
const S3_ROUTE = 's3';

/** The label of every path that is no route: /metrics keeps a bounded set of series. */
const UNKNOWN_ROUTE = 'unknown';
/** Methods counted under their own name in /metrics; any other is counted as OTHER. */
const COUNTED_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'OPTIONS', 'PATCH']);

/** Why a request without a valid key was refused, in the words of an HTTP user. */
const REFUSALS = {
  missing: new AuthError(
    'LANFS_ERR_AUTH_REQUIRED',
    'This cluster needs its key: send the header "Authorization: Bearer <key>" (lanfs up keeps the key in ./lanfs-data/key).',
  ),
  malformed: new AuthError(
    'LANFS_ERR_AUTH_REQUIRED',
    'The Authorization header must read "Bearer <key>", with the cluster key.',
  ),
  wrong: new AuthError(
    'LANFS_ERR_AUTH_FAILED',
    "That key is not this cluster's key: send the key its servers were started with (lanfs up keeps it in ./lanfs-data/key).",
  ),
  ticket: new AuthError(
    'LANFS_ERR_AUTH_FAILED',
    'This download link has expired or was altered: request the file again from any server.',
  ),
} as const;

export function createWebServer(c: WebComponents): Server {
  /** Why req may not go on, or undefined if it may. */
  const refusal = (req: IncomingMessage, url: URL): AuthError | undefined => {
    if (c.credentials.insecure) return undefined;
    const header = req.headers.authorization;
    if (header === undefined) {
      // A redirect's ticket stands for the key, for a GET or HEAD of its one file.
      if (!url.searchParams.has('ticket')) return REFUSALS.missing;
      const readsIt = req.method === 'GET' || req.method === 'HEAD';
      return readsIt && validTicket(url, c.credentials) ? undefined : REFUSALS.ticket;
    }
    // WebDAV clients (Finder, Explorer, rclone) send Basic: any user name, the key as password.
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    const password = basic && /:(.*)$/s.exec(Buffer.from(basic[1]!, 'base64').toString('utf8'));
    const match = password ?? /^Bearer (.+)$/.exec(header);
    if (!match) return REFUSALS.malformed;
    if (c.credentials.key === undefined) return REFUSALS.wrong;
    const given = Buffer.from(match[1]!);
    const key = Buffer.from(c.credentials.key);
    return given.length === key.length && timingSafeEqual(given, key) ? undefined : REFUSALS.wrong;
  };

  // The dashboard's first page of files: the rest it reads from /api/files as asked.
  const snapshot = (): string => {
    const files = c.files.list(SNAPSHOT_FILES + 1);
    const more = files.length > SNAPSHOT_FILES;
    if (more) files.pop();
    return JSON.stringify({
      status: statusJson(c.files.status()),
      files: files.map((r) => fileJson(r)),
      filesMore: more,
    });
  };

  const dav = createDavHandler({ files: c.files, view: c.view, logger: c.logger });
  // S3 checks its own signature (the cluster key is the secret of access key id lanfs).
  const s3 = createS3Handler({
    files: c.files,
    view: c.view,
    credentials: c.credentials,
    multipart: c.multipart,
    logger: c.logger.child({ component: 's3' }),
  });

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: string | undefined,
  ): Promise<number> => {
    const method = req.method ?? 'GET';
    if (route === S3_ROUTE) return await s3(req, res);
    if (route === DAV_ROUTE) {
      const refused = refusal(req, url);
      if (refused) {
        // Basic, so that an OS client asks its user for the key.
        res.setHeader('WWW-Authenticate', 'Basic realm="lanfs"');
        return send(res, 401, `${refused.message}\n`, 'text/plain; charset=utf-8');
      }
      return await dav(req, res);
    }
    if (route === undefined) {
      return sendJson(res, 404, {
        error: `Nothing is served at ${url.pathname}: the dashboard is at /, files at /files/NAME, and ${LISTING_HINT}.`,
      });
    }
    const allowed = ROUTES.get(route)!;
    if (method === 'OPTIONS') {
      res.writeHead(204, { Allow: [...allowed, 'OPTIONS'].join(', ') }).end();
      return 204;
    }
    if (!allowed.includes(method)) {
      res.setHeader('Allow', allowed.join(', '));
      return sendJson(res, 405, {
        error: `${method} is not allowed on ${route.endsWith(':name') ? url.pathname : route}: use ${allowed.join(', ')}.`,
      });
    }
    if (route === '/') return send(res, 200, DASHBOARD_HTML, 'text/html; charset=utf-8');
    if (route === '/metrics')
      return send(res, 200, await c.metrics.registry.metrics(), c.metrics.registry.contentType);
    const refused = refusal(req, url);
    if (refused) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="lanfs"');
      return sendJson(res, 401, { error: refused.message, code: refused.code });
    }
    if (route === '/api/status')
      return sendJson(res, 200, statusJson(await c.files.statusEverywhere()));
    if (route === '/api/trash')
      return sendJson(res, 200, (await c.files.trashEverywhere()).map(trashJson));
    if (route === '/api/files') return await serveFileListing(req, res, listingQuery(url), c);
    if (route === '/api/events')
      return await serveEventFeed(req, res, { stream: c.events, snapshot });
    if (route !== '/files/:name') return await keptRoute(req, res, url, route, c);
    const name = validateName(nameIn(url));
    await c.files.current(); // the view may be behind just after a start or a stall
    try {
      if (method === 'PUT') return await putFile(req, res, name, c);
      if (method === 'DELETE') {
        await c.files.delete(name);
        res.writeHead(204).end();
        return 204;
      }
      return await getFile(req, res, url, name, c);
    } catch (err) {
      throw inHttpWords(err, name);
    }
  };

  return createServer((req, res) => {
    const started = process.hrtime.bigint();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://lanfs');
    } catch {
      url = new URL('http://lanfs/?');
    }
    const route = isS3Request(req) ? S3_ROUTE : routeOf(url.pathname);
    handle(req, res, url, route)
      .catch((err: unknown) => {
        if (err instanceof LanfsError)
          return sendJson(res, STATUS_OF[err.code] ?? 500, { error: err.message, code: err.code });
        c.logger.error({ err }, 'HTTP request failed');
        return sendJson(res, 500, {
          error: 'The server hit an internal error; its log has the details.',
        });
      })
      .then((status) => {
        const method = COUNTED_METHODS.has(req.method ?? '') ? req.method! : 'OTHER';
        const label = route ?? UNKNOWN_ROUTE;
        c.metrics.httpRequests.inc({ method, route: label, status: String(status) });
        c.metrics.httpSeconds.observe(
          { method, route: label },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
      })
      .catch(() => undefined);
  });
}

/** The route a path belongs to (its label in /metrics), or undefined if it is none. */
function routeOf(pathname: string): string | undefined {
  if (pathname === '/dav' || pathname.startsWith('/dav/')) return DAV_ROUTE;
  if (pathname.startsWith('/files/')) return '/files/:name';
  const named = NAMED_ROUTES.find((prefix) => pathname.startsWith(prefix));
  if (named) return `${named}:name`;
  return ROUTES.has(pathname) ? pathname : undefined;
}

/**
 * The same error told to an HTTP user: the file service's sentences point at CLI
 * commands ("lanfs show"), which mean nothing to curl or a browser.
 */
function inHttpWords(err: unknown, name: string): unknown {
  if (!(err instanceof LanfsError)) return err;
  // A sentence already in HTTP words (a version not kept: it points at /api/history) stays.
  if (err.code === 'LANFS_ERR_NOT_FOUND' && !err.message.includes('GET /api/'))
    return notFound(name);
  if (err.code === 'LANFS_ERR_UNAVAILABLE' && err.message.includes('lanfs status'))
    return new LanfsError(
      err.code,
      err.message.replace('("lanfs status" shows them)', '(GET /api/status shows them)'),
    );
  return err;
}

/**
 * Issue 14: GET /api/history/NAME (the versions a live holder keeps, as `lanfs
 * history --json`), POST /api/restore/NAME with `{"version": N}` (that version's
 * bytes become the next version) and POST /api/undelete/NAME (the newest delete of
 * NAME back from the trash; `{"as": "NEW"}` brings it back under another name).
 */
async function keptRoute(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  route: string,
  c: WebComponents,
): Promise<number> {
  const name = validateName(nameIn(url, route.slice(0, -':name'.length)));
  try {
    if (route === '/api/history/:name')
      return sendJson(res, 200, historyJson(await c.files.historyAnywhere(name)));
    const body = await jsonBody(req);
    const host = req.socket.remoteAddress ?? 'http';
    if (route === '/api/restore/:name') {
      const version = body.version;
      if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
        throw new LanfsError(
          'LANFS_ERR_USAGE',
          `Send the version to restore as JSON, like {"version": 3}; GET /api/history/${name} lists them.`,
        );
      return sendJson(res, 200, fileJson(await c.files.restore(name, version, host)));
    }
    const as = body.as;
    if (as !== undefined && typeof as !== 'string')
      throw new LanfsError(
        'LANFS_ERR_USAGE',
        'Send the new name as JSON, like {"as": "notes-old.txt"}.',
      );
    return sendJson(res, 201, fileJson(await c.files.undeleteByName(name, as)));
  } catch (err) {
    if (
      err instanceof LanfsError &&
      err.code === 'LANFS_ERR_NOT_FOUND' &&
      route !== '/api/history/:name'
    )
      // Say it in HTTP words, but keep which thing was missing (a version, the trash).
      return sendJson(res, 404, {
        error: err.message.replace(
          /run "lanfs (history|trash|show)[^"]*" to list/,
          (_m, what: string) =>
            `GET /api/${what === 'show' ? 'files' : what === 'trash' ? 'trash' : `history/${name}`} lists`,
        ),
        code: err.code,
      });
    throw inHttpWords(err, name);
  }
}

/** A small JSON object body (an empty body is `{}`). */
async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024)
      throw new LanfsError('LANFS_ERR_USAGE', 'The JSON body is too large; send a small object.');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new LanfsError(
      'LANFS_ERR_USAGE',
      'The body is not valid JSON; send an object like {"version": 3}.',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new LanfsError('LANFS_ERR_USAGE', 'The body must be a JSON object, like {"version": 3}.');
  return parsed as Record<string, unknown>;
}

/** The file name of a /files/NAME (or /api/history/NAME...) URL, percent-decoded. */
function nameIn(url: URL, prefix = '/files/'): string {
  try {
    return decodeURIComponent(url.pathname.slice(prefix.length));
  } catch {
    throw new InvalidNameError('The file name in the URL is not valid percent-encoded UTF-8.');
  }
}

function notFound(name: string): LanfsError {
  return new LanfsError('LANFS_ERR_NOT_FOUND', `No file named "${name}" exists; ${LISTING_HINT}.`);
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
    name = validateName(nameIn(url));
  } catch {
    return false;
  }
  const expected = Buffer.from(ticketFor(name, expires, credentials.key));
  const given = Buffer.from(ticket);
  return expected.length === given.length && timingSafeEqual(expected, given);
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
  // Issue 15: with If-Match, an edit of the version that ETag names (file-edit.ts).
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined) return await putEdit(req, res, name, ifMatch, c);
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

/**
 * GET or HEAD /files/NAME. A file held here streams from the open-file cache; one
 * held elsewhere gets a 307 to a live holder with a ticket (curl -L, wget), or is
 * streamed through this server when the client asks with `?proxy=1` (the
 * dashboard, whose fetch cannot follow a redirect to another origin with its key)
 * or the holder serves no HTTP.
 */
async function getFile(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  name: string,
  c: WebComponents,
): Promise<number> {
  const version = versionIn(url);
  const location = c.files.locate(name, 'read');
  if (location.kind === 'remote' && version !== undefined)
    return await getRemoteVersion(req, res, url, { name, version, serverId: location.serverId }, c);
  if (location.kind === 'remote') {
    const http = c.view.httpAddressOf(location.serverId);
    const known = c.view.newestHolders(name).find((h) => h.id === location.serverId)?.record;
    if (known && (!http || url.searchParams.get('proxy') === '1')) {
      const { status, sent } = await relayDownload(req, res, c.files, {
        name,
        serverId: location.serverId,
        known,
      });
      c.metrics.bytesOut.inc({ via: 'http' }, sent);
      return status;
    }
    // HTTP clients drop Authorization when a redirect changes host or port (curl -L,
    // fetch): the Location carries a ticket for this one file instead, signed with the
    // key and valid for a minute. The key itself is never put in a URL.
    const path = `/files/${name.split('/').map(encodeURIComponent).join('/')}`;
    res
      .writeHead(307, { Location: `http://${http}${path}${ticketQuery(name, c.credentials)}` })
      .end();
    return 307;
  }
  if (location.kind === 'down') {
    const who = location.holders.length === 1 ? 'server' : 'servers';
    throw new LanfsError(
      'LANFS_ERR_UNAVAILABLE',
      `"${name}" is held only by ${who} ${location.holders.join(', ')}, which ${location.holders.length === 1 ? 'is' : 'are'} down; try again when one is back (GET /api/status shows them).`,
    );
  }
  if (location.kind === 'none') throw notFound(name);
  const open =
    version === undefined
      ? await c.files.openForRead(name)
      : await c.files.openVersion(name, version).catch((err: unknown) => {
          throw notKept(err, name, version);
        });
  try {
    const answer = answerFor(open.record, {
      ifNoneMatch: req.headers['if-none-match'],
      ifRange: typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined,
      range: req.headers.range,
    });
    res.writeHead(answer.status, answer.headers);
    if (req.method === 'HEAD' || !('start' in answer)) {
      res.end();
      return answer.status;
    }
    const sent = await sendFileBytes(open, answer.start, answer.end + 1, res);
    c.metrics.bytesOut.inc({ via: 'http' }, sent);
    return answer.status;
  } finally {
    open.release();
  }
}

/** `?version=N` of a /files/NAME URL (issue 14: a kept version), if given. */
function versionIn(url: URL): number | undefined {
  const text = url.searchParams.get('version');
  if (text === null) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text))
    throw new LanfsError(
      'LANFS_ERR_USAGE',
      `?version= takes a version number like 3, not "${text.slice(0, 40)}".`,
    );
  return Number(text);
}

/** A version that is not kept, said in HTTP words (other errors as they are). */
function notKept(err: unknown, name: string, version: number): unknown {
  if (!(err instanceof LanfsError) || err.code !== 'LANFS_ERR_NOT_FOUND') return err;
  return new LanfsError(
    'LANFS_ERR_NOT_FOUND',
    `Version ${version} of "${name}" is not kept; GET /api/history/${name} lists the versions there are.`,
  );
}

/**
 * A kept version of a file whose newest version is held elsewhere: a 307 to that
 * holder (which keeps the versions it saw), or streamed through with `?proxy=1`.
 */
async function getRemoteVersion(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  target: { name: string; version: number; serverId: number },
  c: WebComponents,
): Promise<number> {
  const { name, version, serverId } = target;
  const http = c.view.httpAddressOf(serverId);
  if (http && url.searchParams.get('proxy') !== '1') {
    const path = `/files/${name.split('/').map(encodeURIComponent).join('/')}`;
    const ticket = ticketQuery(name, c.credentials);
    const query = `${ticket === '' ? '?' : `${ticket}&`}version=${version}`;
    res.writeHead(307, { Location: `http://${http}${path}${query}` }).end();
    return 307;
  }
  let started = false;
  try {
    const record = await c.files.readRemote(
      name,
      serverId,
      req.method === 'HEAD' ? new Writable({ write: (_chunk, _encoding, done) => done() }) : res,
      (record) => {
        started = true;
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': record.size,
          ETag: `"${record.sha256}"`,
        });
      },
      version,
    );
    res.end();
    if (req.method !== 'HEAD') c.metrics.bytesOut.inc({ via: 'http' }, record.size);
    return 200;
  } catch (err) {
    if (started) {
      res.destroy();
      return 200;
    }
    throw notKept(err, name, version);
  }
}
