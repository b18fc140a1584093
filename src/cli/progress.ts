/**
 * Progress bars for long transfers, on stderr and only when it is a terminal
 * (SPEC §3): scripts and pipes see nothing of the sort.
 */
import cliProgress from 'cli-progress';

/** Transfers smaller than this finish too fast for a bar to help. */
const MIN_BYTES_FOR_BAR = 1024 * 1024;

export interface Progress {
  update: (done: number, total: number | null) => void;
  stop: () => void;
}

export function createProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (!stream.isTTY) return { update: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | undefined;
  let startedAt = Date.now();
  return {
    update(done, total) {
      if (!bar) {
        if (total !== null && total < MIN_BYTES_FOR_BAR) return;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${label} [{bar}] {percentage}% {doneMiB}/{totalMiB} MiB {speed} MiB/s`,
            hideCursor: true,
            clearOnComplete: true,
            fps: 10,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 0, 0, { doneMiB: '0', totalMiB: '?', speed: '0' });
        startedAt = Date.now();
      }
      const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
      if (total !== null) bar.setTotal(total);
      bar.update(done, {
        doneMiB: (done / 1048576).toFixed(1),
        totalMiB: total === null ? '?' : (total / 1048576).toFixed(1),
        speed: (done / 1048576 / seconds).toFixed(0),
      });
    },
    stop() {
      bar?.stop();
    },
  };
}
