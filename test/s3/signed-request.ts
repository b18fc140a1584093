/**
 * One S3 request signed with SigV4 by the AWS SDK's own signer
 * (@smithy/signature-v4), sent with node:http exactly as given: the path is not
 * normalised (fetch would resolve `..` away), so a test can send what a
 * careless or hostile client would. For what the real clients do not send
 * (aws-chunked with trailing checksums, a bad Content-MD5, `..` in a key).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { request } from 'node:http';

export interface S3Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export interface SignedOptions {
  method: string;
  /** As sent on the wire (already percent-encoded). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | string;
  secret: string;
  /** Signs the payload as given (x-amz-content-sha256), or UNSIGNED-PAYLOAD / STREAMING-... */
  payloadHash?: string;
}

export async function signedRequest(port: number, o: SignedOptions): Promise<S3Answer> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: 'lanfs', secretAccessKey: o.secret },
    region: 'us-east-1',
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
  });
  const body = o.body === undefined ? undefined : Buffer.from(o.body);
  const headers: Record<string, string> = {
    host: `127.0.0.1:${port}`,
    ...(body ? { 'content-length': String(body.length) } : {}),
    ...o.headers,
  };
  if (o.payloadHash) headers['x-amz-content-sha256'] = o.payloadHash;
  const signed = await signer.sign({
    method: o.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path: o.path,
    query: o.query ?? {},
    headers,
    body: o.payloadHash ? undefined : body,
  });
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return await new Promise((resolve, reject) => {
    const out = request(
      {
        host: '127.0.0.1',
        port,
        method: o.method,
        path: query ? `${o.path}?${query}` : o.path,
        headers: signed.headers,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all,
            text: all.toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    out.on('timeout', () => out.destroy(new Error('timed out')));
    out.on('error', reject);
    out.end(body);
  });
}
