/**
 * A WebDAV request passed on whole to another server's HTTP side: writes of a
 * file run on its acting primary (where its locks live), so the request goes
 * there with its method, headers (Authorization and Host included) and body,
 * and the answer streams back unchanged. A hop header bounds the chain.
 */
import {
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DavAnswer } from './dav-answer.ts';

export const FORWARD_HEADER = 'x-lanfs-forwarded';
/** A request forwarded this many times is not forwarded again (the servers disagree on the primary). */
export const MAX_HOPS = 3;
/** A forwarded request idle this long is given up. */
const IDLE_MS = 60_000;

/** Headers that belong to one connection, not to the request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'expect', 'upgrade']);

export function hopsOf(req: IncomingMessage): number {
  const value = Number(req.headers[FORWARD_HEADER]);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return {
    host: address.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(colon + 1)),
  };
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k)));
}

/**
 * Sends req to the server at address (host:port of its HTTP side) and its answer
 * to res. Resolves with the status sent; rejects with a DavAnswer (503) if that
 * server cannot be reached before any answer came.
 */
export async function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  address: string,
): Promise<number> {
  const hops = hopsOf(req);
  if (hops >= MAX_HOPS)
    throw new DavAnswer(
      503,
      'This request was passed between servers too many times (they disagree on who holds the file); try again in a moment.',
    );
  const { answer, body } = await send(
    address,
    req.method ?? 'GET',
    req.url ?? '/',
    { ...endToEnd(req.headers), [FORWARD_HEADER]: String(hops + 1) },
    req,
  );
  res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
  await pipeline(answer, res).catch(() => res.destroy());
  void body;
  return answer.statusCode ?? 502;
}

/**
 * One request to another server's HTTP side with body streamed from source;
 * resolves when its answer's headers arrived (the caller reads the answer).
 */
export async function send(
  address: string,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  source: Readable | undefined,
): Promise<{ answer: IncomingMessage; body: Promise<void> }> {
  const { host, port } = splitAddress(address);
  return await new Promise((resolve, reject) => {
    const out = request({ host, port, method, path, headers, timeout: IDLE_MS });
    let body: Promise<void> = Promise.resolve();
    out.on('response', (answer) => resolve({ answer, body }));
    out.on('timeout', () => out.destroy(new Error('timed out')));
    out.on('error', (err) =>
      reject(
        new DavAnswer(
          503,
          `The server that holds this file (${address}) did not answer (${err.message}); try again.`,
        ),
      ),
    );
    if (source) {
      body = pipeline(source, out).catch((err: unknown) => {
        out.destroy(err as Error);
      });
    } else out.end();
  });
}
