/**
 * The WebDAV `If` request header (RFC 4918 §10.4): lists of conditions (lock
 * tokens and ETags, each possibly negated), either untagged (about the request
 * URL) or tagged with the resource they are about. Parsing is pure; evaluation
 * asks the caller for the state of each resource, so the lock table and the
 * file records stay where they are.
 */

export interface IfCondition {
  not: boolean;
  kind: 'token' | 'etag';
  /** The state token (a URI, e.g. `opaquelocktoken:…`) or the entity tag as written (quotes kept). */
  value: string;
}

export interface IfList {
  /** The tagged resource (a URL or an absolute path, as written); undefined for an untagged list. */
  resource: string | undefined;
  conditions: IfCondition[];
}

/** Thrown for a header that does not follow the grammar: the request gets 400. */
export class IfHeaderSyntaxError extends Error {}

/** At most this many lists and conditions are read: a header is small. */
const MAX_CONDITIONS = 256;

/** Parses an If header into its lists, in order; throws IfHeaderSyntaxError. */
export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = [];
  let i = 0;
  let tag: string | undefined;
  let tagged: boolean | undefined;
  let count = 0;
  const fail = (why: string): never => {
    throw new IfHeaderSyntaxError(`The If header is not valid: ${why}.`);
  };
  const skipSpace = (): void => {
    while (i < header.length && /\s/.test(header[i]!)) i++;
  };
  const readUntil = (close: string): string => {
    const end = header.indexOf(close, i + 1);
    if (end < 0) fail(`a "${header[i]}" is never closed`);
    const value = header.slice(i + 1, end);
    i = end + 1;
    return value;
  };
  for (;;) {
    skipSpace();
    if (i >= header.length) break;
    const c = header[i]!;
    if (c === '<') {
      if (tagged === false) fail('tagged and untagged lists are mixed');
      tagged = true;
      tag = readUntil('>').trim();
      if (tag === '') fail('a resource tag is empty');
      continue;
    }
    if (c !== '(') fail(`unexpected "${c}"`);
    if (tagged === undefined) tagged = false;
    if (tagged && tag === undefined) fail('a tagged list has no resource');
    i++;
    const conditions: IfCondition[] = [];
    for (;;) {
      skipSpace();
      if (i >= header.length) fail('a list is never closed');
      if (header[i] === ')') {
        i++;
        break;
      }
      let not = false;
      if (header.slice(i, i + 3).toLowerCase() === 'not') {
        not = true;
        i += 3;
        skipSpace();
      }
      const open = header[i];
      if (open === '<') conditions.push({ not, kind: 'token', value: readUntil('>').trim() });
      else if (open === '[') conditions.push({ not, kind: 'etag', value: readUntil(']').trim() });
      else fail('a condition must be <state-token> or [etag]');
      if (++count > MAX_CONDITIONS) fail('it has too many conditions');
    }
    if (conditions.length === 0) fail('a list is empty');
    lists.push({ resource: tagged ? tag : undefined, conditions });
  }
  if (lists.length === 0) fail('it has no list');
  return lists;
}

/** What a condition is checked against: a resource's ETag and the lock tokens covering it. */
export interface ResourceState {
  etag: string | undefined;
  lockTokens: ReadonlySet<string>;
}

/**
 * Whether the header holds: true if any list holds, a list holding when all its
 * conditions do, each about its tagged resource or else the request URL
 * (stateOf(undefined)).
 */
export function evaluateIf(
  lists: IfList[],
  stateOf: (resource: string | undefined) => ResourceState,
): boolean {
  return lists.some((list) => {
    const state = stateOf(list.resource);
    return list.conditions.every((condition) => {
      const holds =
        condition.kind === 'token'
          ? state.lockTokens.has(condition.value)
          : state.etag !== undefined && sameEtag(condition.value, state.etag);
      return condition.not ? !holds : holds;
    });
  });
}

/** The lock tokens a request submits: every token the header names outside a Not. */
export function submittedTokens(lists: IfList[]): Set<string> {
  const tokens = new Set<string>();
  for (const list of lists)
    for (const c of list.conditions) if (c.kind === 'token' && !c.not) tokens.add(c.value);
  return tokens;
}

function sameEtag(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}
