/**
 * An HTTP answer decided deep inside a WebDAV method (a 409 for a missing
 * parent, a 423 for a lock, a 400 for bad XML): thrown, and sent by the
 * handler as its status and one sentence. It is the WebDAV protocol's own
 * vocabulary, not a lanfs error; those (shared/errors.ts) are mapped to
 * statuses in one place, webdav-handler.ts.
 */
export class DavAnswer extends Error {
  readonly status: number;
  /** An XML body to send instead of the sentence (a DAV:error precondition). */
  readonly xml: string | undefined;
  constructor(status: number, message: string, xml?: string) {
    super(message);
    this.status = status;
    this.xml = xml;
  }
}
