/**
 * PUT /files/NAME with If-Match: an edit of the version whose ETag the client
 * names (the dashboard's editor saves so). The ETag is the one GET gives
 * (`"<sha256>"`); a file changed meanwhile gets 412 with the current version in
 * the body, so the person can compare and choose. Runs on the file's acting
 * primary: a request that arrives elsewhere is passed there whole, as WebDAV
 * does (http/forward.ts). Without If-Match, PUT still only creates.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { etagOf } from '../http/file-response.ts';
import { forwardRequest } from '../http/forward.ts';
import { fileJson } from '../protocol/listing.ts';
import type { FileRecord } from '../protocol/messages.ts';
import { LanfsError, UnavailableError } from '../shared/errors.ts';
import type { WebComponents } from './http-server.ts';

/** Whether an If-Match header names this ETag (`*`: any version). */
function matches(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === '*' || t === etag);
}

function json(res: ServerResponse, status: number, body: unknown, etag?: string): number {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...(etag ? { ETag: etag } : {}),
  });
  res.end(text);
  return status;
}

/** 412 with the version that is there now, so the editor can show both. */
function changed(res: ServerResponse, name: string, current: FileRecord): number {
  return json(
    res,
    412,
    {
      error: `"${name}" was saved by someone else meanwhile (it is version ${current.version} now); compare, then keep yours under another name or start again from the newest.`,
      code: 'LANFS_ERR_EDIT_CONFLICT',
      current: fileJson(current),
      etag: etagOf(current),
    },
    etagOf(current),
  );
}

export async function putEdit(
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  ifMatch: string,
  c: WebComponents,
): Promise<number> {
  const location = c.files.locate(name, 'write');
  if (location.kind === 'none')
    return json(res, 412, {
      error: `"${name}" does not exist (If-Match); nothing was written.`,
      code: 'LANFS_ERR_NOT_FOUND',
    });
  if (location.kind === 'down') throw new UnavailableError(name, location.holders);
  if (location.kind === 'remote') {
    const http = c.view.httpAddressOf(location.serverId);
    if (!http)
      throw new LanfsError(
        'LANFS_ERR_UNAVAILABLE',
        `"${name}" is changed through server ${location.serverId}, which serves no HTTP (start it with --http-port); try again there.`,
      );
    return await forwardRequest(
      req,
      res,
      http,
      (message) => new LanfsError('LANFS_ERR_UNAVAILABLE', message),
    );
  }
  const current = c.view.newestHolders(name)[0]?.record;
  if (!current) throw new UnavailableError(name, []);
  if (!matches(ifMatch, etagOf(current))) {
    req.resume();
    return changed(res, name, current);
  }
  const length = req.headers['content-length'];
  const size = length === undefined ? null : Number(length);
  let handle;
  try {
    handle = await c.files.beginEdit({ name, size, baseVersion: current.version });
  } catch (err) {
    if (!(err instanceof LanfsError) || err.code !== 'LANFS_ERR_EDIT_CONFLICT') throw err;
    req.resume();
    return changed(res, name, c.view.newestHolders(name)[0]?.record ?? current);
  }
  let record: FileRecord;
  try {
    for await (const chunk of req) await handle.write(chunk as Buffer);
    record = await handle.finish({ size: handle.received });
  } catch (err) {
    await handle.abort();
    // Someone saved between our check and our commit.
    if (err instanceof LanfsError && err.code === 'LANFS_ERR_EDIT_CONFLICT')
      return changed(res, name, c.view.newestHolders(name)[0]?.record ?? current);
    throw err;
  }
  c.metrics.bytesIn.inc({ via: 'http' }, record.size);
  return json(res, 200, fileJson(record), etagOf(record));
}
