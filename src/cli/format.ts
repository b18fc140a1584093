/**
 * How records and servers look on a terminal: aligned columns, sizes for people.
 */
import type { BodyOf, FileRecord } from '../protocol/messages.ts';
import { describeVerification, type Verification } from '../protocol/verification.ts';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${units[unit]}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
    )
    .join('\n');
}

export interface RecordsFormat {
  /** In the shell hints name shell commands ("create ..."), not "lanfs create ...". */
  inShell?: boolean;
  /** Servers that are down: their name is marked wherever they hold a file. */
  down?: ReadonlySet<number>;
  /** What the scrub found of each file (issue 13): a VERIFIED column. */
  verified?: ReadonlyMap<string, Verification>;
}

export function formatRecords(records: FileRecord[], format: RecordsFormat = {}): string {
  if (records.length === 0) return noFilesYet(format);
  return `${formatRecordRows(records, format, true)}\n${filesCount(records.length)}`;
}

/** What `show` says when the cluster holds no file. */
export function noFilesYet(format: RecordsFormat = {}): string {
  return `No files yet. Add one with: ${format.inShell ? '' : 'lanfs '}create NAME --from PATH`;
}

export function filesCount(count: number): string {
  return `${count} file${count === 1 ? '' : 's'}`;
}

/**
 * The rows of records as aligned columns, with the header line or without (a long
 * listing is printed a block at a time; each block is aligned on its own).
 */
export function formatRecordRows(
  records: FileRecord[],
  format: RecordsFormat,
  header: boolean,
): string {
  const holder = (id: number): string => `server ${id}${format.down?.has(id) ? ' (DOWN)' : ''}`;
  const rows = [['NAME', 'SIZE', 'VERSION', 'PRIMARY', 'COPIES']];
  if (format.verified) rows[0]!.push('VERIFIED');
  for (const r of records) {
    const row = [
      r.name,
      formatBytes(r.size),
      `v${r.version}`,
      holder(r.primary),
      r.replicas.length ? r.replicas.map(holder).join(', ') : '-',
    ];
    const verified = format.verified?.get(r.name);
    if (format.verified) row.push(verified ? describeVerification(verified) : '-');
    rows.push(row);
  }
  const text = table(rows);
  return header ? text : text.slice(text.indexOf('\n') + 1);
}

/** "2 min 5 s", "40 s": how long until something, for people. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  if (minutes < 60) return rest === 0 ? `${minutes} min` : `${minutes} min ${rest} s`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
}

/**
 * Why files are below their number of copies and when that changes: healing makes
 * copies elsewhere only once a holder has been down for --heal-after, and only if
 * enough servers are up to hold them.
 */
export function explainMissingCopies(status: BodyOf<'STATUS_RESULT'>): string {
  const down = status.servers.filter((s) => !s.up);
  const upCount = status.servers.length - down.length;
  if (down.length === 0) return 'their copies are being made';
  const names = down.map((s) => `server ${s.id}`).join(', ');
  const isAre = down.length === 1 ? 'is' : 'are';
  if (upCount < status.replicas)
    return `${names} ${isAre} down and only ${upCount} server${upCount === 1 ? ' is' : 's are'} up: the copies are made when a server returns`;
  const healAfter = status.healAfterMs;
  if (healAfter === undefined)
    return `${names} ${isAre} down: copies are made again elsewhere once a server has been down for the servers' --heal-after (3 min by default), unless it returns first`;
  const waits = down
    .filter((s) => s.downForMs !== undefined && s.downForMs < healAfter)
    .map((s) => healAfter - s.downForMs!);
  if (waits.length === 0)
    return `${names} ${isAre} down for longer than --heal-after (${formatDuration(healAfter)}): copies are being made elsewhere`;
  return `${names} ${isAre} down: copies are made again elsewhere in ${formatDuration(Math.min(...waits))} (after --heal-after, ${formatDuration(healAfter)}, down), unless ${down.length === 1 ? 'it returns' : 'they return'} first`;
}

export function formatStatus(status: BodyOf<'STATUS_RESULT'>, connectedTo: string): string {
  const rows = [['SERVER', 'ADDRESS', 'STATE', 'FILES', 'IN FILES', 'VERSIONS', 'TRASH', 'FREE']];
  // A CAPACITY column only when some server gave --capacity (placement then weighs bytes).
  const capacities = status.servers.some((s) => s.capacity !== undefined);
  if (capacities) rows[0]!.push('CAPACITY');
  for (const s of status.servers) {
    const space = s.space
      ? [s.space.files, s.space.versions, s.space.trash, s.space.free].map(formatBytes)
      : ['-', '-', '-', '-'];
    const capacity = s.capacity === undefined ? '-' : formatBytes(s.capacity);
    rows.push([
      String(s.id),
      s.address,
      s.up ? 'up' : 'DOWN',
      String(s.files),
      ...space,
      ...(capacities ? [capacity] : []),
    ]);
  }
  const lines = [
    table(rows),
    '',
    `Connected to server ${status.serverId} at ${connectedTo}; ${status.replicas} copies of each file wanted.`,
  ];
  if (status.conflicts.length > 0) {
    lines.push(
      '',
      `Conflicts: ${status.conflicts.length} file${status.conflicts.length === 1 ? '' : 's'} kept under another name (two different files had one name):`,
    );
    for (const c of status.conflicts.slice(0, 20))
      lines.push(`  ${c.name}  (lost the name "${c.conflictOf}")`);
  }
  if (status.underReplicated.length > 0) {
    const names = [...status.underReplicated].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    lines.push(
      '',
      `Below ${status.replicas} copies: ${names.length} file${names.length === 1 ? '' : 's'} (${explainMissingCopies(status)}):`,
    );
    for (const name of names.slice(0, 20)) lines.push(`  ${name}`);
    if (names.length > 20) lines.push(`  ... and ${names.length - 20} more`);
  }
  // Issue 14: the delete brake kept these in the trash whatever they asked.
  for (const s of status.servers)
    for (const burst of s.deleteBursts ?? [])
      lines.push(
        '',
        `A burst of ${burst.deletes} deletes from ${burst.host} (server ${s.id}, ${new Date(burst.since).toLocaleString()}): all kept in the trash; undo with: ${burst.undo}`,
      );
  // Issue 15: faults made with lanfs fault (or lanfs up's shell), until heal.
  const faults = status.servers.flatMap((s) => {
    const parts = [
      ...(s.faults?.cut.length ? [`cut from ${s.faults.cut.join(', ')}`] : []),
      ...(s.faults?.slowDiskMs ? [`slow disk ${s.faults.slowDiskMs} ms`] : []),
    ];
    return parts.length > 0 ? [`server ${s.id}: ${parts.join(', ')}`] : [];
  });
  if (faults.length > 0)
    lines.push('', `Faults in force: ${faults.join('; ')} ("heal" removes them).`);
  if (status.insecure)
    lines.push(
      'WARNING: this cluster runs without a key (--insecure): anyone on the LAN can read and change its files.',
    );
  return lines.join('\n');
}
