/**
 * `lanfs doctor`: tries every way this machine has to find and reach the
 * cluster and says what each step found: the multicast group joined (on which
 * interface), the announcements heard and from whom, the answers to a query,
 * the TCP connection and handshake of every server known, whether the key
 * matches, the clocks against the 30 s window of signed announcements, and the
 * hints that explain a silent group (TTL 1, the interface). Succeeds when a
 * server accepted us; otherwise fails with the first step that went wrong and
 * what to do about it.
 */
import { networkInterfaces } from 'node:os';
import { probeServer, type ServerProbe } from '../../client/probe.ts';
import { REPLAY_WINDOW_MS } from '../../discovery/announcement.ts';
import { probeGroup, type GroupProbe, type HeardOnGroup } from '../../discovery/group-probe.ts';
import { DEFAULT_GROUP, parseGroup } from '../../discovery/multicast-beacon.ts';
import { AuthError, NoServerError, UsageError, type LanfsError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { addressList, resolveCredentials, type ConnectOptions } from '../options.ts';

/** How long doctor listens to the group by default: announcements come every second. */
export const DEFAULT_LISTEN_SECONDS = 3;
/** Servers tried at most (those given, heard, and named by the servers reached). */
const MAX_SERVERS_TRIED = 32;
const CONNECT_TIMEOUT_MS = 3000;

export type StepResult = 'ok' | 'failed' | 'warning' | 'skipped';

export interface DoctorStep {
  step: 'multicast' | 'announcements' | 'query' | 'reach' | 'key' | 'clock' | 'hints';
  result: StepResult;
  /** What was found, in sentences. */
  found: string[];
  /** What to do, when the step failed or warns. */
  todo?: string;
}

export interface DoctorReport {
  reachable: boolean;
  steps: DoctorStep[];
  group: GroupProbe | null;
  servers: ServerProbe[];
}

export interface DoctorOptions extends ConnectOptions {
  json?: boolean;
  listen?: string;
}

export async function doctor(ctx: CliContext, options: DoctorOptions): Promise<void> {
  const credentials = resolveCredentials(options);
  const given = addressList(options.server) ?? [];
  const listenSeconds = Number(options.listen ?? DEFAULT_LISTEN_SECONDS);
  if (!Number.isFinite(listenSeconds) || listenSeconds < 0 || listenSeconds > 60)
    throw new UsageError('--listen takes a number of seconds from 0 to 60, e.g. --listen 3.');
  const group = parseGroup(options.group ?? DEFAULT_GROUP);
  const groupProbe =
    listenSeconds > 0
      ? await probeGroup({
          group,
          interfaceAddress: options.interface,
          cluster: credentials.cluster,
          key: credentials.key,
          listenMs: listenSeconds * 1000,
        })
      : null;

  // Every address known, tried in turn: given first, then heard, then those the servers name.
  const ours = (h: HeardOnGroup): boolean => h.cluster === credentials.cluster;
  const candidates = [...given];
  const learn = (address: string): void => {
    if (!candidates.includes(address) && candidates.length < MAX_SERVERS_TRIED)
      candidates.push(address);
  };
  for (const h of [...(groupProbe?.announcements ?? []), ...(groupProbe?.replies ?? [])])
    if (ours(h)) learn(h.address);
  const servers: ServerProbe[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const probe = await probeServer(candidates[i]!, credentials, CONNECT_TIMEOUT_MS);
    servers.push(probe);
    for (const member of probe.members ?? []) learn(member.address);
  }

  const report = diagnose({
    groupProbe,
    servers,
    given,
    cluster: credentials.cluster,
    interfaceGiven: options.interface,
  });
  if (options.json) print(ctx, JSON.stringify(report, null, 2));
  else print(ctx, formatReport(report));
  if (!report.reachable) throw verdictError(report);
}

interface DiagnoseInput {
  groupProbe: GroupProbe | null;
  servers: ServerProbe[];
  given: string[];
  cluster: string;
  interfaceGiven: string | undefined;
}

/** Pure: the steps and the verdict from what was heard and tried. */
export function diagnose(input: DiagnoseInput): DoctorReport {
  const { groupProbe: g, servers, given, cluster } = input;
  const steps: DoctorStep[] = [];
  const where = interfaceWords(input.interfaceGiven);
  const heardNothing = g !== null && g.announcements.length === 0 && g.replies.length === 0;
  const multicastAdvice =
    'give a server directly with --server HOST:PORT (or LANFS_SERVER), and start servers that cannot hear each other with --peers HOST:PORT,...';

  if (g === null) {
    steps.push({ step: 'multicast', result: 'skipped', found: ['Not listening (--listen 0).'] });
  } else if (!g.joined) {
    steps.push({
      step: 'multicast',
      result: 'failed',
      found: [`Could not join the multicast group ${g.group} ${where}: ${g.joinError ?? ''}.`],
      todo: 'check --group (ADDR:PORT) and --interface (an address of this machine).',
    });
  } else {
    steps.push({
      step: 'multicast',
      result: 'ok',
      found: [`Joined the multicast group ${g.group} ${where}.`],
    });
  }

  if (g !== null && g.joined) {
    const found = g.announcements.map((h) => `Heard ${describeHeard(h, cluster)}.`);
    if (heardNothing) {
      steps.push({
        step: 'announcements',
        result: 'failed',
        found: [
          `No announcement heard on ${g.group} in the time listened, and no answer to a query: multicast does not get through to this machine (dropped by a firewall, a switch with IGMP snooping and no querier, another subnet, or the wrong interface).`,
        ],
        todo: multicastAdvice,
      });
    } else {
      const others = g.announcements.filter((h) => h.cluster !== cluster);
      steps.push({
        step: 'announcements',
        result: g.announcements.some((h) => h.cluster === cluster)
          ? 'ok'
          : g.announcements.length === 0
            ? 'warning'
            : 'failed',
        found: found.length > 0 ? found : ['No announcement heard (but answers to the query).'],
        todo:
          others.length > 0 && others.length === g.announcements.length
            ? `only servers of another cluster announce themselves; if it is yours, give --cluster ${others[0]!.cluster}.`
            : undefined,
      });
    }
  }

  if (g !== null && g.joined) {
    steps.push({
      step: 'query',
      result: g.replies.length > 0 ? 'ok' : heardNothing ? 'failed' : 'warning',
      found:
        g.replies.length > 0
          ? g.replies.map((h) => `Answered by ${describeHeard(h, cluster)}.`)
          : [
              g.asked
                ? 'Nobody answered the query sent to the group.'
                : `The query could not be sent: ${g.askError ?? ''}.`,
            ],
      todo: g.replies.length > 0 ? undefined : heardNothing ? multicastAdvice : undefined,
    });
  }

  const reached = servers.filter((s) => s.handshake);
  steps.push({
    step: 'reach',
    result:
      servers.length === 0 || servers.every((s) => !s.reached)
        ? 'failed'
        : servers.every((s) => s.reached)
          ? 'ok'
          : 'warning',
    found:
      servers.length === 0
        ? [
            given.length === 0
              ? 'No server to try: none given with --server and none heard on the group.'
              : 'No server to try.',
          ]
        : servers.map(describeProbe),
    todo:
      servers.length === 0
        ? multicastAdvice
        : reached.length === 0 && servers.every((s) => !s.reached)
          ? 'check that the servers run and that a firewall lets TCP through to their port (lanfs server --port, 7070 by default).'
          : undefined,
  });

  const keyRefused = servers.filter((s) => isKeyError(s.errorCode));
  // One line per server, though it was heard both announcing and answering.
  const unsignedHeard = [
    ...new Map(
      [...(g?.announcements ?? []), ...(g?.replies ?? [])]
        .filter((h) => h.cluster === cluster && !h.keyMatches)
        .map((h) => [h.address, h]),
    ).values(),
  ];
  steps.push({
    step: 'key',
    result:
      keyRefused.length > 0 && reached.length === 0
        ? 'failed'
        : keyRefused.length > 0 || unsignedHeard.length > 0
          ? 'warning'
          : reached.length > 0
            ? 'ok'
            : 'skipped',
    found: [
      ...(servers.every((s) => !s.reached) && unsignedHeard.length === 0
        ? ['No server reached to check the key with.']
        : []),
      ...(reached.length > 0
        ? [`The key matches: ${reached.length} server(s) accepted the handshake.`]
        : []),
      ...keyRefused.map((s) => `${s.address} refused the key: ${s.error ?? ''}`),
      ...unsignedHeard.map(
        (h) =>
          `Server ${h.serverId ?? '?'} at ${h.address} signs its datagrams with another key than ours.`,
      ),
    ],
    todo:
      keyRefused.length > 0 || unsignedHeard.length > 0
        ? 'give the cluster key of those servers with --key, --key-file or LANFS_KEY.'
        : undefined,
  });

  const heard = [...(g?.announcements ?? []), ...(g?.replies ?? [])];
  const skewed = heard.filter((h) => !h.withinWindow);
  const worst = heard.reduce((m, h) => Math.max(m, Math.abs(h.skewMs)), 0);
  steps.push({
    step: 'clock',
    result: heard.length === 0 ? 'skipped' : skewed.length > 0 ? 'failed' : 'ok',
    found:
      heard.length === 0
        ? ['No datagram heard to compare clocks with.']
        : skewed.length > 0
          ? skewed.map(
              (h) =>
                `Server ${h.serverId ?? '?'}'s clock is ${seconds(Math.abs(h.skewMs))} ${h.skewMs > 0 ? 'ahead of' : 'behind'} this machine's: past the ${seconds(REPLAY_WINDOW_MS)} window, so signed announcements and queries between them are dropped as replays.`,
            )
          : [
              `Clocks agree within ${seconds(worst)} (signed announcements are accepted within ${seconds(REPLAY_WINDOW_MS)}).`,
            ],
    todo:
      skewed.length > 0
        ? 'set the clocks right (NTP) on this machine or on those servers.'
        : undefined,
  });

  const hints: string[] = [];
  if (heardNothing || (g !== null && !g.joined)) {
    hints.push(
      'Announcements are sent with TTL 1: they never cross a router, so servers on another subnet are found only with --server (clients) and --peers (servers).',
    );
  }
  const candidates = externalAddresses();
  if (input.interfaceGiven === undefined && candidates.length > 1) {
    hints.push(
      `This machine has several network interfaces (${candidates.map((c) => `${c.name} ${c.address}`).join(', ')}); the system picks one for multicast: if it is the wrong one, give --interface ADDRESS (or LANFS_INTERFACE).`,
    );
  }
  if (hints.length > 0) steps.push({ step: 'hints', result: 'warning', found: hints });

  return { reachable: reached.length > 0, steps, group: g, servers };
}

/** The error doctor ends with when no server accepted it: the first step that failed. */
function verdictError(report: DoctorReport): LanfsError {
  const failed = report.steps.find((s) => s.result === 'failed');
  const keyStep = report.steps.find((s) => s.step === 'key');
  if (keyStep?.result === 'failed')
    return new AuthError(
      'LANFS_ERR_AUTH_FAILED',
      `The cluster was found but refused the key; ${keyStep.todo ?? ''}`,
    );
  if (!failed) return new NoServerError('No lanfs server accepted the handshake.');
  const why: Record<DoctorStep['step'], string> = {
    multicast: 'the multicast group could not be joined',
    announcements: 'multicast does not get through (no announcement heard, no answer to a query)',
    query: 'nobody answered a query on the multicast group',
    reach: 'no server could be reached over TCP',
    key: 'the key was refused',
    clock: 'the clocks are too far apart',
    hints: '',
  };
  return new NoServerError(
    `No lanfs server reached: ${why[failed.step]}; ${failed.todo ?? 'see the steps above.'}`,
  );
}

function isKeyError(code: string | undefined): boolean {
  return code === 'LANFS_ERR_AUTH_FAILED' || code === 'LANFS_ERR_AUTH_REQUIRED';
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function describeHeard(h: HeardOnGroup, cluster: string): string {
  const parts = [
    h.keyMatches ? 'key matches' : 'another key',
    `clock ${h.skewMs >= 0 ? '+' : '-'}${seconds(Math.abs(h.skewMs))}`,
  ];
  if (h.cluster !== cluster) parts.unshift(`cluster "${h.cluster}", not ours`);
  return `server ${h.serverId ?? '?'} at ${h.address} (from ${h.from}; ${parts.join(', ')})`;
}

function describeProbe(s: ServerProbe): string {
  if (!s.reached) return `${s.address}: no TCP connection (${s.error ?? 'error'}).`;
  if (!s.handshake) return `${s.address}: TCP reached, handshake refused (${s.error ?? 'error'}).`;
  return `${s.address}: server ${s.serverId} reached and accepted the handshake (${s.ms} ms).`;
}

interface NamedAddress {
  name: string;
  address: string;
}

function externalAddresses(): NamedAddress[] {
  const out: NamedAddress[] = [];
  for (const [name, list] of Object.entries(networkInterfaces()))
    for (const a of list ?? [])
      if (a.family === 'IPv4' && !a.internal) out.push({ name, address: a.address });
  return out;
}

function interfaceWords(address: string | undefined): string {
  if (address === undefined) return 'on the interface the system picks (no --interface given)';
  for (const [name, list] of Object.entries(networkInterfaces()))
    if ((list ?? []).some((a) => a.address === address)) return `on interface ${name} (${address})`;
  return `on ${address} (not an address of this machine: give one of its own with --interface)`;
}

const MARK: Record<StepResult, string> = {
  ok: 'ok  ',
  failed: 'FAIL',
  warning: 'warn',
  skipped: ' -  ',
};

export function formatReport(report: DoctorReport): string {
  const lines: string[] = [];
  for (const step of report.steps) {
    lines.push(`[${MARK[step.result]}] ${step.step}`);
    for (const line of step.found) lines.push(`       ${line}`);
    if (step.todo) lines.push(`       What to do: ${step.todo}`);
  }
  const reached = report.servers.find((s) => s.handshake);
  lines.push(
    reached
      ? `The cluster is reachable (server ${reached.serverId} at ${reached.address}).`
      : 'The cluster is not reachable from here.',
  );
  return lines.join('\n');
}
