/**
 * `lanfs fault kill|stop|cont|slow-disk MS|cut A B|heal`: faults for demos and
 * tests on a running cluster whose servers were started with --allow-faults
 * (the handshake makes sure only holders of the key ask). kill, stop, cont and
 * slow-disk apply to one server: the one connected to, or --on ID. cut A B makes
 * A and B drop their links with each other; heal removes every fault on every
 * server. The helpers below serve `lanfs up`'s shell too.
 */
import type { LanfsClient } from '../../client/client.ts';
import type { BodyOf } from '../../protocol/messages.ts';
import { UsageError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { parsePositiveInt } from '../options.ts';

export const FAULT_ACTIONS = ['kill', 'stop', 'cont', 'slow-disk', 'cut', 'heal'] as const;

export async function fault(
  ctx: CliContext,
  action: string,
  args: string[],
  options: { on?: string; for?: string },
): Promise<void> {
  const on = options.on === undefined ? undefined : parsePositiveInt(options.on, '--on');
  const client = await ctx.client();
  const arity = (n: number, usage: string): void => {
    if (args.length !== n) throw new UsageError(`Write it as: lanfs fault ${usage}.`);
  };
  switch (action) {
    case 'kill': {
      arity(0, 'kill [--on ID]');
      const r = await client.fault(on, { action: 'kill' });
      print(
        ctx,
        `Server ${r.serverId} (pid ${r.pid}) is killed; the others mark it down within seconds.`,
      );
      return;
    }
    case 'stop': {
      arity(0, 'stop [--on ID] [--for MS]');
      const ms = options.for === undefined ? undefined : parsePositiveInt(options.for, '--for');
      const r = await client.fault(on, { action: 'stop', ...(ms === undefined ? {} : { ms }) });
      print(ctx, stoppedSentence(r, ms));
      return;
    }
    case 'cont': {
      arity(0, 'cont [--on ID]');
      const r = await client.fault(on, { action: 'cont' });
      print(
        ctx,
        `Server ${r.serverId} (pid ${r.pid}) answered, so it is not stopped. A stopped server cannot answer: wake it with "kill -CONT PID" on its machine, or "cont N" in lanfs up's shell.`,
      );
      return;
    }
    case 'slow-disk': {
      arity(1, 'slow-disk MS [--on ID]');
      const ms = parsePositiveInt(args[0]!, 'The delay (ms)', true);
      const r = await client.fault(on, { action: 'slow-disk', ms });
      print(ctx, slowSentence(r, ms));
      return;
    }
    case 'cut': {
      arity(2, 'cut A B');
      const [a, b] = args.map((arg) => parsePositiveInt(arg, 'The server'));
      print(ctx, await cutServers(client, a!, b!));
      return;
    }
    case 'heal':
      arity(0, 'heal');
      print(ctx, await healAll(client));
      return;
    default:
      throw new UsageError(
        `"${action}" is not a fault; the faults are ${FAULT_ACTIONS.join(', ')} (see "lanfs fault --help").`,
      );
  }
}

export function stoppedSentence(r: BodyOf<'FAULT_RESULT'>, ms: number | undefined): string {
  return ms === undefined
    ? `Server ${r.serverId} (pid ${r.pid}) is stopped (SIGSTOP): it cannot wake itself; "kill -CONT ${r.pid}" on its machine (or "cont N" in lanfs up's shell) resumes it.`
    : `Server ${r.serverId} (pid ${r.pid}) is stopped (SIGSTOP) for ${ms} ms; it resumes by itself then.`;
}

export function slowSentence(r: BodyOf<'FAULT_RESULT'>, ms: number): string {
  return ms === 0
    ? `Server ${r.serverId}'s disk is back to its own speed.`
    : `Server ${r.serverId}'s disk is slow now: every read and new upload waits ${ms} ms ("heal" ends it).`;
}

/** A and B drop their links with each other (each is told of the other). */
export async function cutServers(client: LanfsClient, a: number, b: number): Promise<string> {
  if (a === b) throw new UsageError('Name two different servers to cut apart, e.g. cut 1 2.');
  await client.fault(a, { action: 'cut', peer: b });
  await client.fault(b, { action: 'cut', peer: a });
  return `Servers ${a} and ${b} are cut apart: each drops the other's links and sees it down within seconds ("heal" joins them again).`;
}

/** Removes every fault on every server that answers. */
export async function healAll(client: LanfsClient): Promise<string> {
  const { servers } = await client.status();
  const healed: number[] = [];
  const missed: number[] = [];
  for (const member of servers) {
    try {
      await client.fault(member.id, { action: 'heal' });
      healed.push(member.id);
    } catch {
      missed.push(member.id);
    }
  }
  const also =
    missed.length > 0
      ? ` Server${missed.length === 1 ? '' : 's'} ${missed.join(', ')} did not answer (down, stopped, or without --allow-faults).`
      : '';
  return `Every fault is removed on server${healed.length === 1 ? '' : 's'} ${healed.join(', ') || 'none'}.${also}`;
}
