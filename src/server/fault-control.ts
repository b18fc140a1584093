/**
 * Faults built in (issue 15), for demos and tests on a running cluster: a server
 * started with --allow-faults takes FAULT requests from clients that passed the
 * handshake (so only holders of the cluster key): kill (exit at once), stop
 * (SIGSTOP itself), slow-disk (every disk read and new upload waits), cut (drop
 * every link with one peer) and heal (remove every fault). Off by default: a
 * server without the option refuses them.
 *
 * A stopped process runs no code, so it cannot wake itself: `lanfs up`'s shell
 * (`cont N`) or `kill -CONT PID` on its machine does that. With `ms`, stop first
 * starts a small detached process that sends SIGCONT after that long.
 */
import { spawn } from 'node:child_process';
import type { PeerMesh } from '../cluster/peer-mesh.ts';
import type { BodyOf, Faults } from '../protocol/messages.ts';
import { UsageError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { DiskFaultInjector } from '../storage/disk-faults.ts';

/** How long after answering a kill or stop the process goes: the answer must leave first. */
const ANSWER_FIRST_MS = 100;

export interface FaultControlOptions {
  serverId: number;
  disk: DiskFaultInjector;
  mesh: () => PeerMesh | undefined;
  logger: Logger;
}

export class FaultControl {
  readonly #o: FaultControlOptions;

  constructor(options: FaultControlOptions) {
    this.#o = options;
  }

  /** The faults in force (shown by status and the dashboard). */
  inForce(): Faults {
    return { slowDiskMs: this.#o.disk.slowMs, cut: this.#o.mesh()?.cutPeers ?? [] };
  }

  /** Whether any fault is in force. */
  get any(): boolean {
    const f = this.inForce();
    return f.slowDiskMs > 0 || f.cut.length > 0;
  }

  apply(request: BodyOf<'FAULT'>): BodyOf<'FAULT_RESULT'> {
    const { logger } = this.#o;
    switch (request.action) {
      case 'kill':
        logger.warn('fault: killed at once (lanfs fault kill)');
        setTimeout(() => process.kill(process.pid, 'SIGKILL'), ANSWER_FIRST_MS);
        break;
      case 'stop':
        logger.warn({ forMs: request.ms }, 'fault: stopped (SIGSTOP, lanfs fault stop)');
        if (request.ms !== undefined) this.#contAfter(request.ms);
        setTimeout(() => process.kill(process.pid, 'SIGSTOP'), ANSWER_FIRST_MS);
        break;
      case 'cont':
        // Only a running server gets this far: nothing to resume.
        break;
      case 'slow-disk':
        if (request.ms === undefined)
          throw new UsageError('slow-disk needs the delay in ms, e.g. slow-disk 200.');
        this.#o.disk.slowMs = request.ms;
        logger.warn({ ms: request.ms }, 'fault: slow disk');
        break;
      case 'cut':
        if (request.peer === undefined)
          throw new UsageError('cut needs the server to cut off, e.g. cut 1 2.');
        if (request.peer === this.#o.serverId)
          throw new UsageError('A server cannot be cut from itself; name two different servers.');
        this.#o.mesh()?.cut([request.peer]);
        logger.warn({ peer: request.peer }, 'fault: links with a peer cut');
        break;
      case 'heal':
        this.#o.disk.slowMs = 0;
        this.#o.mesh()?.heal();
        logger.warn('fault: every fault removed (heal)');
        break;
    }
    return { serverId: this.#o.serverId, pid: process.pid, faults: this.inForce() };
  }

  /** A detached process that wakes this one after ms (a stopped process cannot). */
  #contAfter(ms: number): void {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `setTimeout(() => { try { process.kill(${process.pid}, 'SIGCONT'); } catch {} }, ${ms});`,
      ],
      { detached: true, stdio: 'ignore' },
    );
    child.on('error', () => undefined);
    child.unref();
  }
}
