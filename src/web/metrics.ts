/**
 * Prometheus metrics of one server (prom-client), served at /metrics: HTTP
 * requests and their latency, bytes in and out, files held, copies missing and
 * peers up. A registry per server, so several servers can run in one process.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSources {
  /** Files this server holds. */
  files: () => number;
  /** Files with fewer live copies than wanted. */
  copiesMissing: () => number;
  /** Other servers up. */
  peersUp: () => number;
  /** What the scrubber did since start: bytes re-hashed, damaged copies found and repaired. */
  scrub?: () => { bytes: number; bad: number; repaired: number };
}

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpSeconds: Histogram<'method' | 'route'>;
  readonly bytesIn: Counter<'via'>;
  readonly bytesOut: Counter<'via'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'lanfs_http_requests_total',
      help: 'HTTP requests',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'lanfs_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.bytesIn = new Counter({
      name: 'lanfs_bytes_in_total',
      help: 'File bytes received',
      labelNames: ['via'],
      registers,
    });
    this.bytesOut = new Counter({
      name: 'lanfs_bytes_out_total',
      help: 'File bytes sent',
      labelNames: ['via'],
      registers,
    });
    new Gauge({
      name: 'lanfs_files',
      help: 'Files this server holds',
      registers,
      collect: function () {
        this.set(sources.files());
      },
    });
    new Gauge({
      name: 'lanfs_copies_missing',
      help: 'Files with fewer live copies than wanted',
      registers,
      collect: function () {
        this.set(sources.copiesMissing());
      },
    });
    const scrub = sources.scrub;
    if (scrub) {
      // Counted by the scrubber; read at each scrape.
      const totalOf = (
        name: string,
        help: string,
        pick: (t: { bytes: number; bad: number; repaired: number }) => number,
      ): void => {
        new Counter({
          name,
          help,
          registers,
          collect: function () {
            this.reset();
            this.inc(pick(scrub()));
          },
        });
      };
      totalOf('lanfs_scrub_bytes_total', 'Bytes re-hashed by the scrub', (t) => t.bytes);
      totalOf('lanfs_scrub_bad_copies_total', 'Damaged copies the scrub found', (t) => t.bad);
      totalOf('lanfs_scrub_repaired_copies_total', 'Damaged copies repaired', (t) => t.repaired);
    }
    new Gauge({
      name: 'lanfs_peers_up',
      help: 'Other servers up',
      registers,
      collect: function () {
        this.set(sources.peersUp());
      },
    });
  }
}
