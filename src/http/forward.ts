/**
 * A request passed on whole to another server's HTTP side, for the front ends
 * whose writes of a file run on its acting primary (WebDAV, where its locks
 * live; S3, where its next version is made): the request goes there with its
 * method, path, query, headers (Authorization and Host included, so a SigV4
 * signature still holds) and body, and the answer streams back unchanged. A hop
 * header bounds the chain; it is not an `x-amz-*` header, so S3's rule against
 * unsigned x-amz headers does not trip on it. Each front end says how a failure
 * to reach the other server is told to its clients (`refuse`).
 */
import {
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

export const FORWARD_HEADER = 'x-lanfs-forwarded';
/** A request forwarded this many times is not forwarded again (the servers disagree on the primary). */
export const MAX_HOPS = 3;
/** A forwarded request idle this long is given up. */
const IDLE_MS = 60_000;

/** Headers that belong to one connection, not to the request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'expect', 'upgrade']);

/** The error a front end answers when a forward cannot be made; `message` says why, for people. */
export type Refusal = (message: string) => Error;

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
 * to res. Resolves with the status sent; rejects with refuse(...) if the request
 * went round too often or that server cannot be reached before any answer came.
 */
export async function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  address: string,
  refuse: Refusal,
): Promise<number> {
  const hops = hopsOf(req);
  if (hops >= MAX_HOPS)
    throw refuse(
      'This request was passed between servers too many times (they disagree on who holds the file); try again in a moment.',
    );
  const { answer } = await send(
    address,
    req.method ?? 'GET',
    req.url ?? '/',
    { ...endToEnd(req.headers), [FORWARD_HEADER]: String(hops + 1) },
    req,
    refuse,
  );
  res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
  await pipeline(answer, res).catch(() => res.destroy());
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
  refuse: Refusal,
): Promise<{ answer: IncomingMessage; body: Promise<void> }> {
  const { host, port } = splitAddress(address);
  return await new Promise((resolve, reject) => {
    const out = request({ host, port, method, path, headers, timeout: IDLE_MS });
    let body: Promise<void> = Promise.resolve();
    out.on('response', (answer) => resolve({ answer, body }));
    out.on('timeout', () => out.destroy(new Error('timed out')));
    out.on('error', (err) =>
      reject(
        refuse(
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
