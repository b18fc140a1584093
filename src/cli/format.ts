/**
 * How records and servers look on a terminal: aligned columns, sizes for people.
 */
import type { BodyOf, FileRecord } from '../protocol/messages.ts';

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

export function formatRecords(records: FileRecord[]): string {
  if (records.length === 0) return 'No files yet. Add one with: lanfs create NAME --from PATH';
  const rows = [['NAME', 'SIZE', 'VERSION', 'PRIMARY', 'COPIES']];
  for (const r of records) {
    rows.push([
      r.name,
      formatBytes(r.size),
      `v${r.version}`,
      `server ${r.primary}`,
      r.replicas.length ? r.replicas.map((id) => `server ${id}`).join(', ') : '-',
    ]);
  }
  return `${table(rows)}\n${records.length} file${records.length === 1 ? '' : 's'}`;
}

export function formatStatus(status: BodyOf<'STATUS_RESULT'>, connectedTo: string): string {
  const rows = [['SERVER', 'ADDRESS', 'STATE', 'FILES']];
  for (const s of status.servers)
    rows.push([String(s.id), s.address, s.up ? 'up' : 'DOWN', String(s.files)]);
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
    lines.push(
      '',
      `Below ${status.replicas} copies: ${status.underReplicated.length} file${status.underReplicated.length === 1 ? '' : 's'} (copies are being made, or wait for a server to return):`,
    );
    for (const name of status.underReplicated.slice(0, 20)) lines.push(`  ${name}`);
  }
  if (status.insecure)
    lines.push(
      'WARNING: this cluster runs without a key (--insecure): anyone on the LAN can read and change its files.',
    );
  return lines.join('\n');
}
