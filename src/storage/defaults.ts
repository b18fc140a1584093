/**
 * The defaults of what a server keeps of replaced versions and deleted files, apart
 * from the version store, so the CLI can show them in its help without loading the
 * storage (its start-up time is part of every command a user types).
 */

export const DEFAULT_KEEP_VERSIONS = 10;
export const DEFAULT_TRASH_DAYS = 7;
export const DEFAULT_VERSIONS_BUDGET = '10%';
