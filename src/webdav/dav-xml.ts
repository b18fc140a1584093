/**
 * The XML of WebDAV requests and answers, through fast-xml-parser: request
 * bodies parsed into elements with their namespaces resolved (PROPFIND,
 * PROPPATCH, LOCK), and answers (multistatus, lockdiscovery, errors) built as
 * trees and serialized by the library, so every text and attribute is escaped.
 * A body with a DOCTYPE is refused before parsing: no entity is ever expanded.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import type { PropChange } from './dead-properties.ts';

export const DAV_NS = 'DAV:';
/** Request bodies larger than this are refused (400). */
export const MAX_XML_BYTES = 1024 * 1024;

/** An element of a request body, its name resolved against the namespaces in scope. */
export interface XmlElement {
  ns: string;
  name: string;
  /** The prefix it was written with ('' for none): used to echo it back. */
  prefix: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/** A request body that is not the XML a method takes: the request gets 400 with this sentence. */
export class BadXmlError extends Error {}

type RawNode = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  trimValues: true,
  processEntities: true,
  htmlEntities: true,
  parseTagValue: false,
  parseAttributeValue: false,
});

/** Parses a request body; throws BadXmlError for anything that is not well-formed XML. */
export function parseXml(text: string): XmlElement {
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text))
    throw new BadXmlError('Request bodies with a DOCTYPE are refused: send plain WebDAV XML.');
  const valid = XMLValidator.validate(text);
  if (valid !== true)
    throw new BadXmlError(`The request body is not well-formed XML: ${valid.err.msg}`);
  const nodes = parser.parse(text) as RawNode[];
  const root = nodes.map((n) => toElement(n, new Map([['xml', 'xml']]))).find((e) => e);
  if (!root) throw new BadXmlError('The request body has no XML element.');
  return root;
}

function toElement(node: RawNode, scope: Map<string, string>): XmlElement | undefined {
  const tag = Object.keys(node).find((k) => k !== ':@');
  if (tag === undefined || tag === '#text' || tag.startsWith('?') || tag.startsWith('!'))
    return undefined;
  const attributes = (node[':@'] ?? {}) as Record<string, string>;
  const inner = new Map(scope);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'xmlns') inner.set('', value);
    else if (key.startsWith('xmlns:')) {
      // Namespaces in XML 1.0 forbids undeclaring a prefix (xmlns:p="").
      if (value === '')
        throw new BadXmlError(`The XML prefix "${key.slice(6)}" is bound to nothing.`);
      inner.set(key.slice(6), value);
    }
  }
  const colon = tag.indexOf(':');
  const prefix = colon < 0 ? '' : tag.slice(0, colon);
  const name = colon < 0 ? tag : tag.slice(colon + 1);
  const ns = inner.get(prefix);
  if (ns === undefined && prefix !== '')
    throw new BadXmlError(`The XML prefix "${prefix}" is not declared.`);
  const children: XmlElement[] = [];
  let text = '';
  for (const child of (node[tag] ?? []) as RawNode[]) {
    if ('#text' in child) text += String(child['#text']);
    else {
      const element = toElement(child, inner);
      if (element) children.push(element);
    }
  }
  return { ns: ns ?? '', name, prefix, attributes, children, text };
}

/** The child elements of el named DAV:name. */
export function davChildren(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.ns === DAV_NS && c.name === name);
}

export function davChild(el: XmlElement, name: string): XmlElement | undefined {
  return davChildren(el, name)[0];
}

/** A property's name: its namespace and local name. */
export interface PropName {
  ns: string;
  name: string;
}

export type PropfindRequest =
  { kind: 'allprop' } | { kind: 'propname' } | { kind: 'prop'; props: PropName[] };

/** What a PROPFIND asks for: an empty body means allprop (RFC 4918 §9.1). */
export function parsePropfind(body: XmlElement | undefined): PropfindRequest {
  if (!body) return { kind: 'allprop' };
  if (body.ns !== DAV_NS || body.name !== 'propfind')
    throw new BadXmlError('A PROPFIND body must be a DAV:propfind element.');
  if (davChild(body, 'propname')) return { kind: 'propname' };
  const prop = davChild(body, 'prop');
  if (prop) return { kind: 'prop', props: prop.children.map(({ ns, name }) => ({ ns, name })) };
  if (davChild(body, 'allprop')) return { kind: 'allprop' };
  throw new BadXmlError('A DAV:propfind must hold DAV:prop, DAV:allprop or DAV:propname.');
}

/** What a PROPPATCH does, in order: each property set (with its value) or removed. */
export function parseProppatch(body: XmlElement | undefined): PropChange[] {
  if (!body || body.ns !== DAV_NS || body.name !== 'propertyupdate')
    throw new BadXmlError('A PROPPATCH body must be a DAV:propertyupdate element.');
  const changes: PropChange[] = [];
  for (const action of body.children) {
    if (action.ns !== DAV_NS || (action.name !== 'set' && action.name !== 'remove')) continue;
    for (const prop of davChildren(action, 'prop'))
      for (const value of prop.children)
        changes.push(
          action.name === 'set'
            ? { op: 'set', value }
            : { op: 'remove', prop: { ns: value.ns, name: value.name } },
        );
  }
  if (changes.length === 0)
    throw new BadXmlError('A DAV:propertyupdate must set or remove at least one property.');
  return changes;
}

export interface LockInfo {
  scope: 'exclusive' | 'shared';
  owner: XmlElement | undefined;
}

/** The DAV:lockinfo of a LOCK body. */
export function parseLockInfo(body: XmlElement): LockInfo {
  if (body.ns !== DAV_NS || body.name !== 'lockinfo')
    throw new BadXmlError('A LOCK body must be a DAV:lockinfo element.');
  const scope = davChild(body, 'lockscope');
  const type = davChild(body, 'locktype');
  if (!scope || !type || !davChild(type, 'write'))
    throw new BadXmlError('A DAV:lockinfo must name a lockscope and the write locktype.');
  const kind = davChild(scope, 'exclusive')
    ? 'exclusive'
    : davChild(scope, 'shared')
      ? 'shared'
      : undefined;
  if (!kind) throw new BadXmlError('The lockscope must be DAV:exclusive or DAV:shared.');
  return { scope: kind, owner: davChild(body, 'owner') };
}

// ---- building answers ----

/** A node of an answer, in fast-xml-parser's ordered form. */
export type XmlNode = Record<string, unknown>;

const builder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: true,
  processEntities: true,
});

/** A DAV: element (written D:name; the document root declares D). */
export function dav(name: string, ...children: (XmlNode | string)[]): XmlNode {
  return element(`D:${name}`, {}, children);
}

export function element(
  qname: string,
  attributes: Record<string, string>,
  children: (XmlNode | string)[],
): XmlNode {
  const node: XmlNode = {
    [qname]: children.map((c) => (typeof c === 'string' ? { '#text': c } : c)),
  };
  if (Object.keys(attributes).length > 0)
    node[':@'] = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`@_${k}`, v]));
  return node;
}

/** An empty element for a property of any namespace, declaring its namespace itself if not DAV:. */
export function propElement(prop: PropName, ...children: (XmlNode | string)[]): XmlNode {
  if (prop.ns === DAV_NS) return dav(prop.name, ...children);
  if (prop.ns === '') return element(prop.name, { xmlns: '' }, children);
  return element(`P:${prop.name}`, { 'xmlns:P': prop.ns }, children);
}

/** A request element sent back as it came (the owner of a lock), its namespaces declared. */
export function echoElement(el: XmlElement): XmlNode {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(el.attributes)) if (!k.startsWith('xmlns')) attributes[k] = v;
  const children: (XmlNode | string)[] = el.children.map(echoElement);
  if (el.text !== '') children.unshift(el.text);
  if (el.ns === DAV_NS) return element(`D:${el.name}`, attributes, children);
  if (el.ns === '') return element(el.name, { ...attributes, xmlns: '' }, children);
  return element(`E:${el.name}`, { ...attributes, 'xmlns:E': el.ns }, children);
}

/** The whole document: the XML declaration and root, which declares the DAV: prefix. */
export function xmlDocument(root: XmlNode): string {
  const attributes = (root[':@'] ?? {}) as Record<string, string>;
  const withNs = { ...root, ':@': { ...attributes, '@_xmlns:D': DAV_NS } };
  return `<?xml version="1.0" encoding="utf-8"?>\n${builder.build([withNs])}\n`;
}

export interface PropStat {
  status: number;
  props: XmlNode[];
}

export type MultistatusResponse =
  { href: string; propstats: PropStat[] } | { href: string; status: number; description?: string };

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  412: 'Precondition Failed',
  423: 'Locked',
  424: 'Failed Dependency',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? ''}`.trimEnd();
}

/** A 207 Multi-Status body. */
export function multistatus(responses: MultistatusResponse[]): string {
  return xmlDocument(
    dav(
      'multistatus',
      ...responses.map((r) =>
        'propstats' in r
          ? dav(
              'response',
              dav('href', r.href),
              ...r.propstats.map((p) =>
                dav('propstat', dav('prop', ...p.props), dav('status', statusLine(p.status))),
              ),
            )
          : dav(
              'response',
              dav('href', r.href),
              dav('status', statusLine(r.status)),
              ...(r.description ? [dav('responsedescription', r.description)] : []),
            ),
      ),
    ),
  );
}

/** A DAV:error body naming a precondition (RFC 4918 §16), e.g. propfind-finite-depth. */
export function davError(condition: string): string {
  return xmlDocument(dav('error', dav(condition)));
}
