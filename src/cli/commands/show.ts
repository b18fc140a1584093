/** `lanfs show`: every file of every server (the single system image). */
import { print, type CliContext } from '../context.ts';
import { fileJson } from '../../protocol/listing.ts';
import { formatRecords } from '../format.ts';
import { editedBy } from './edit.ts';
import type { LanfsClient } from '../../client/client.ts';
import type { FileRecord } from '../../protocol/messages.ts';
import {
  verificationOf,
  VERIFY_NAMES_PER_REQUEST,
  type Verification,
} from '../../protocol/verification.ts';

export async function show(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const client = await ctx.client();
  const records = await client.list();
  const verified = await verifications(client, records);
  if (options.json) {
    const leases = new Map(
      (records.length > 0 ? await client.leases().catch(() => []) : []).map((l) => [l.name, l]),
    );
    print(
      ctx,
      JSON.stringify(
        records.map((r) => ({
          ...fileJson(r, leases.get(r.name)),
          verified: verified.get(r.name),
        })),
        null,
        2,
      ),
    );
    return;
  }
  // Which holders are down, so a copy on a stopped server does not look like a live one.
  const status = records.length > 0 ? await client.status() : undefined;
  const down = new Set(status?.servers.filter((s) => !s.up).map((s) => s.id));
  print(ctx, formatRecords(records, { inShell: ctx.inShell, down, verified }));
  // Edit leases (issue 14): who has a file open in `lanfs edit` right now.
  const leases = records.length > 0 ? await client.leases().catch(() => []) : [];
  for (const lease of leases) print(ctx, `${lease.name} is ${editedBy(lease)}.`);
}

/** What the servers' scrubs found of each file (issue 13), asked a page of names at a time. */
async function verifications(
  client: LanfsClient,
  records: FileRecord[],
): Promise<Map<string, Verification>> {
  const out = new Map<string, Verification>();
  for (let i = 0; i < records.length; i += VERIFY_NAMES_PER_REQUEST) {
    const page = records.slice(i, i + VERIFY_NAMES_PER_REQUEST);
    const { files } = await client.scrub({ names: page.map((r) => r.name) });
    for (const record of page) out.set(record.name, verificationOf(record, files));
  }
  return out;
}
