/**
 * The defaults of the cluster's options, apart from the modules that use them, so
 * the CLI can show them in its help without loading the cluster (its start-up time
 * is part of every command a user types).
 */

/** Silence after which a peer is marked down: 4 missed heartbeats, so a dead server is
 *  found within 3 s (the default of SPEC's membership). */
export const DOWN_AFTER_MS = 2000;
/** How long a holder may be down before its copies are made again elsewhere. */
export const DEFAULT_HEAL_AFTER_MS = 3 * 60 * 1000;
/** --scrub-rate default, MB/s (a disk gives 100+; a pass of 1 TB takes about 14 h). */
export const DEFAULT_SCRUB_RATE_MBPS = 20;
