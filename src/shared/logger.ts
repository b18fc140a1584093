/**
 * Logging: pino, JSON lines on stderr by default. Components get a child logger
 * named after their folder ("lanfs:server", ...) as an argument, never a global.
 * On a terminal a foreground server writes readable lines instead ("pretty"):
 * each JSON line pino makes is turned into one line of text by formatLogLine, a
 * few lines of our own rather than a transport in a worker thread.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { UsageError } from './errors.ts';

export type Logger = PinoLogger;

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** --log-format: as asked, else pretty on a terminal and json elsewhere (a file, a pipe, journald). */
export function logFormatFrom(value: string | undefined, terminal: boolean): LogFormat {
  if (value === undefined) return terminal ? 'pretty' : 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(value))
    throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, not "${value}".`);
  return value as LogFormat;
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stderr. */
  destination?: DestinationStream;
  /** Of the lines on stderr (ignored with a destination); default json. */
  format?: LogFormat;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LANFS_LOG_LEVEL ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ??
      (options.format === 'pretty'
        ? prettyDestination(process.stderr)
        : pino.destination({ fd: 2, sync: false })),
  );
}

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
/** ANSI colours of the level names that call for attention, on a colour terminal. */
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };

function valueText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * One pino JSON line as one readable line: "12:04:05 WARN  peer down peer=2".
 * A line that is not JSON passes as it is; an error's stack follows on its own lines.
 */
export function formatLogLine(line: string, colour = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, err, ...fields } = entry;
  const levelNumber = typeof level === 'number' ? level : 30;
  let name = (LEVELS[levelNumber] ?? String(level)).toUpperCase().padEnd(5);
  if (colour && COLOURS[levelNumber]) name = `${COLOURS[levelNumber]}${name}\x1b[0m`;
  const clock = typeof time === 'string' ? time.slice(11, 19) : '';
  const error = err as { message?: string; stack?: string } | undefined;
  const parts = [clock, name, typeof msg === 'string' ? msg : ''];
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${valueText(value)}`);
  if (error?.message) parts.push(`error=${valueText(error.message)}`);
  const stack =
    error?.stack && levelNumber >= 50 ? `\n${error.stack.split('\n').slice(1).join('\n')}` : '';
  return `${parts.filter((p) => p !== '').join(' ')}${stack}\n`;
}

/** A pino destination writing formatLogLine's lines to a stream (a terminal). */
export function prettyDestination(stream: NodeJS.WriteStream): DestinationStream {
  const colour = stream.isTTY && stream.hasColors?.() === true && !process.env.NO_COLOR;
  return { write: (line: string) => stream.write(formatLogLine(line, colour)) };
}

/** A logger that drops everything, for tests and the in-process cluster of `lanfs up`. */
/** A logger appending to a file, for servers that share a terminal with a shell (lanfs up). */
export function fileLogger(path: string): Logger {
  return createLogger({ destination: pino.destination({ dest: path, sync: false, mkdir: true }) });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
