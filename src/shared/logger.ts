/**
 * Logging: pino, JSON lines on stderr by default. Components get a child logger
 * named after their folder ("lanfs:server", ...) as an argument, never a global.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stderr. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LANFS_LOG_LEVEL ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything, for tests and the in-process cluster of `lanfs up`. */
/** A logger appending to a file, for servers that share a terminal with a shell (lanfs up). */
export function fileLogger(path: string): Logger {
  return createLogger({ destination: pino.destination({ dest: path, sync: false, mkdir: true }) });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
