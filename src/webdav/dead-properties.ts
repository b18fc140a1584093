/**
 * WebDAV dead properties (set by PROPPATCH, shown by PROPFIND), kept in memory
 * on the server that takes the resource's writes: a client's metadata for the
 * session (Office, Finder and litmus set some), not lanfs records. They follow a
 * MOVE or COPY made here, go with a DELETE, and are lost at a restart or a
 * failover, like locks. Bounded: resources, properties per resource and bytes.
 */
import type { PropName, XmlElement } from './dav-xml.ts';
import { isWithin } from './lock-table.ts';

export const MAX_RESOURCES = 10_000;
export const MAX_PROPS_PER_RESOURCE = 100;
/** The text of one resource's dead properties, roughly (names, values, nesting). */
export const MAX_BYTES_PER_RESOURCE = 64 * 1024;

export type PropChange = { op: 'set'; value: XmlElement } | { op: 'remove'; prop: PropName };

export class DeadProperties {
  readonly #byPath = new Map<string, Map<string, XmlElement>>();

  /** The dead properties of path, in the order they were set. */
  of(path: string): XmlElement[] {
    return [...(this.#byPath.get(path)?.values() ?? [])];
  }

  get(path: string, prop: PropName): XmlElement | undefined {
    return this.#byPath.get(path)?.get(keyOf(prop));
  }

  /**
   * Applies the changes in order, all or none (RFC 4918 §9.2); false if the
   * result would be over the limits (then nothing changed).
   */
  apply(path: string, changes: PropChange[]): boolean {
    const next = new Map(this.#byPath.get(path));
    for (const change of changes) {
      if (change.op === 'set') next.set(keyOf(change.value), change.value);
      else next.delete(keyOf(change.prop));
    }
    if (next.size > MAX_PROPS_PER_RESOURCE) return false;
    if ([...next.values()].reduce((n, e) => n + sizeOf(e), 0) > MAX_BYTES_PER_RESOURCE)
      return false;
    if (next.size === 0) {
      this.#byPath.delete(path);
      return true;
    }
    if (!this.#byPath.has(path) && this.#byPath.size >= MAX_RESOURCES) return false;
    this.#byPath.set(path, next);
    return true;
  }

  /** Drops the properties of path and of everything under it. */
  drop(path: string): void {
    for (const key of [...this.#byPath.keys()]) if (isWithin(key, path)) this.#byPath.delete(key);
  }

  /** Gives the properties of from (and under it) to the same places under to. */
  copy(from: string, to: string): void {
    for (const [key, props] of [...this.#byPath]) {
      if (!isWithin(key, from)) continue;
      const target = to + key.slice(from.length);
      if (!this.#byPath.has(target) && this.#byPath.size >= MAX_RESOURCES) return;
      this.#byPath.set(target, new Map(props));
    }
  }
}

function keyOf(prop: PropName): string {
  return `${prop.ns}\u0000${prop.name}`;
}

function sizeOf(el: XmlElement): number {
  return (
    el.ns.length +
    el.name.length +
    el.text.length +
    20 +
    el.children.reduce((n, c) => n + sizeOf(c), 0)
  );
}
