/**
 * The one URI encoding of S3: RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~)
 * stay, every other byte of the UTF-8 form becomes %XX in upper-case hex. SigV4
 * canonical requests use it for paths and query strings, and listings with
 * `encoding-type=url` use it for keys, so one function serves both.
 */
import { S3Error } from './s3-error.ts';

/** AWS's UriEncode(); `/` is kept when `keepSlash` (canonical paths, listed keys). */
export function awsUriEncode(text: string, keepSlash = false): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(text);
  } catch (err) {
    // Only a lone UTF-16 surrogate makes encodeURIComponent throw: not valid UTF-8 text.
    throw new S3Error('InvalidURI', "Couldn't parse the specified URI.", { cause: err });
  }
  encoded = encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded;
}

/** Percent-decoding of one path segment or query part; `+` stays `+` (it is not a form). */
export function uriDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    throw new S3Error('InvalidURI', "Couldn't parse the specified URI.", { cause: err });
  }
}

/**
 * The parameters of a raw query string, decoded, in their order. A name without
 * `=` has the value '' and `hasValue` false (subresources like `?uploads`).
 */
export function parseQuery(query: string): { name: string; value: string; hasValue: boolean }[] {
  if (query.startsWith('?')) query = query.slice(1);
  if (query === '') return [];
  return query
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq < 0) return { name: uriDecode(part), value: '', hasValue: false };
      return {
        name: uriDecode(part.slice(0, eq)),
        value: uriDecode(part.slice(eq + 1)),
        hasValue: true,
      };
    });
}
