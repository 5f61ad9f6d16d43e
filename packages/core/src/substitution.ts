/**
 * Why: `$N`/`%N` put request text into the backend URL (ProxyPassMatch, RewriteRule), the path by which CR/LF, `?` and
 * `#` reach the backend's request line (CVE-2023-25690, CVE-2024-38474); captures are escaped for where they land.
 */

import { configError } from './errors.ts';

/** A target URL with backreferences, split at configuration time into a fixed origin and a path/query template. */
export interface Substitution {
  /** `scheme://authority`, which no backreference may change. */
  readonly origin: string;
  /** Whether the template names any `$N`/`%N`; without one, Apache appends the request path (default substitution). */
  readonly hasBackreference: boolean;
  /** Whether the template has its own query (`?`). */
  readonly hasQuery: boolean;
  /** Builds the path (and query) from pattern captures (`$N`) and condition captures (`%N`). */
  expand(rule: Captures, condition: Captures, noEscape: boolean): string;
}

/** Capture groups by number; `undefined` entries (and missing numbers) expand to nothing, as in Apache. */
export type Captures = readonly (string | undefined)[];

type Part = string | { readonly from: '$' | '%'; readonly n: number; readonly inQuery: boolean };

/** Parses `target` (a string URL whose path or query may hold `$0`-`$9` and `%0`-`%9`). */
export function parseSubstitution(target: string, where: string): Substitution {
  const authority = target.indexOf('//');
  const end = authority === -1 ? -1 : target.slice(authority + 2).search(/[/?]/);
  const originEnd = end === -1 ? target.length : authority + 2 + end;
  const origin = target.slice(0, originEnd);
  if (authority === -1 || /[$%]\d/.test(origin)) {
    configError(
      'ERR_WSTUNNEL_INVALID_TARGET',
      `${where}: target "${target}" must be an absolute URL whose scheme and host are fixed; backreferences may only appear in the path or query (a host taken from the request is an SSRF risk)`,
    );
  }
  const parts: Part[] = [];
  let literal = '';
  let inQuery = false;
  const rest = target.slice(originEnd);
  for (let i = 0; i < rest.length; i++) {
    const char = rest[i]!;
    const next = rest[i + 1];
    if (char === '\\' && (next === '$' || next === '%')) {
      literal += next;
      i++;
    } else if ((char === '$' || char === '%') && next !== undefined && next >= '0' && next <= '9') {
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push({ from: char, n: Number(next), inQuery });
      i++;
    } else {
      if (char === '?') inQuery = true;
      literal += char;
    }
  }
  if (literal !== '') parts.push(literal);
  for (const part of parts) {
    if (typeof part === 'string' && !LITERAL.test(part)) {
      configError(
        'ERR_WSTUNNEL_INVALID_TARGET',
        `${where}: target "${target}" must be written percent-encoded: no space, "#", "\\", non-ASCII character or stray "%" in its path or query`,
      );
    }
  }
  return {
    origin,
    hasBackreference: parts.some((part) => typeof part !== 'string'),
    hasQuery: inQuery,
    expand(rule, condition, noEscape) {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') out += part;
        else {
          const text = (part.from === '$' ? rule : condition)[part.n] ?? '';
          // A %N comes from a header or the query: literal text, so a "%" in it is a percent sign in the path.
          out += escapeCapture(text, part.inQuery, noEscape, part.from === '%' && !part.inQuery);
        }
      }
      return out;
    },
  };
}

/** What the fixed text of a target may hold: printable ASCII without `#` and `\`, `%` only starting an escape. */
const LITERAL = /^(?:[\x21-\x22\x24\x26-\x5b\x5d-\x7e]|%[0-9A-Fa-f]{2})*$/;

/** Never valid in a request-target, `[NE]` or not: controls, space, `"<>\^`{|}`, `#`, and non-ASCII. */
const ALWAYS_ESCAPED = /[^\x21-\x7e]|["#<>\\^`{|}]/;
/** In a path, everything but unreserved, sub-delims, `:`, `@`, `/` and escapes is escaped (RFC 3986 3.3). */
const PATH_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;
/** In a query, `&`, `=`, `+` and `;` are escaped too, so a capture cannot add a parameter (mod_rewrite `[B]`). */
const QUERY_SAFE = /[A-Za-z0-9\-._~!$'()*,:@/]/;

/**
 * Percent-encodes captured text for its place in the URL. An escape already in the text (`%2F`) is kept, because the
 * text comes from a path that is still percent-encoded; a `%` not starting one is encoded, and so is every `%` when
 * `literalPercent` says the text is not from the path.
 */
export function escapeCapture(
  text: string,
  inQuery: boolean,
  noEscape: boolean,
  literalPercent = false,
): string {
  const safe = inQuery ? QUERY_SAFE : PATH_SAFE;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '%' && !literalPercent && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) out += char;
    else if (ALWAYS_ESCAPED.test(char) || char === '%') out += encodeChar(text, i);
    else if (noEscape || safe.test(char)) out += char;
    else out += encodeChar(text, i);
    if (text.codePointAt(i)! > 0xffff) i++; // the low half of a surrogate pair was encoded with it
  }
  return out;
}

function encodeChar(text: string, i: number): string {
  const code = text.codePointAt(i)!;
  if (code >= 0xd800 && code <= 0xdfff) return '%EF%BF%BD'; // a lone surrogate: U+FFFD, as TextEncoder would
  return [...Buffer.from(String.fromCodePoint(code))]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}
