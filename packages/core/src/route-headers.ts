/** Why: fields a route adds to the backend request come from app code per request, so they are checked per request. */

import { HOP_BY_HOP } from './header-lists.ts';
import type { HeaderPatch } from './rules.ts';

/** RFC 9110 5.1 field-name token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * RFC 9110 5.5 field-value characters, as Node checks them: nothing else, since the tunnel's request head is written
 * as latin1 and U+010D U+010A would turn into CR LF there.
 */
const UNSAFE_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Fields wstunnel decides itself: the framing and routing of the request, and the forwarding trail. */
const RESERVED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'host',
  'content-length',
  'http2-settings',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** Checks what a route's `headers` function returned; throws a TypeError naming the offending field. */
export function routeHeaders(
  fields: Readonly<Record<string, string | undefined>> | undefined,
): HeaderPatch | undefined {
  if (fields === undefined) return undefined;
  if (typeof fields !== 'object' || fields === null) throw new TypeError('headers must return an object');
  const patch = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(fields)) {
    const lower = name.toLowerCase();
    if (!FIELD_NAME.test(name)) throw new TypeError(`"${name}" is not a valid header field name`);
    if (RESERVED.has(lower)) throw new TypeError(`header "${name}" is set by wstunnel itself`);
    if (value !== undefined && (typeof value !== 'string' || UNSAFE_VALUE.test(value)))
      throw new TypeError(`header "${name}" must be a string of visible latin1 characters, spaces and tabs`);
    patch.set(lower, value);
  }
  return patch;
}
