/**
 * Backpressure for HTTP responses: a writer that was told to wait (write()
 * returned false) resumes when the socket drains, or when the response is gone.
 */
import type { ServerResponse } from 'node:http';

export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
