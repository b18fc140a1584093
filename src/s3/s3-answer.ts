/**
 * What the S3 operations share to answer: the exchange they work on (request,
 * response, the payload facts of its signature), XML answers, and the small XML
 * bodies some requests carry (at most 1 MiB).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PayloadFacts } from './s3-body.ts';
import { S3Error } from './s3-error.ts';
import { MAX_XML_BODY_BYTES } from './xml.ts';

/** What every operation gets: the request, its answer, and the parsed operation. */
export interface S3Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  payload: PayloadFacts;
  requestId: string;
}

export function sendXml(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): number {
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  return status;
}

/** A request body of XML (DeleteObjects, Complete, CreateBucket): at most 1 MiB, else MalformedXML. */
export async function readSmallBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_XML_BODY_BYTES)
      throw new S3Error('MalformedXML', 'The XML you provided is larger than 1 MiB.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
