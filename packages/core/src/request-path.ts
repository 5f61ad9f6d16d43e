/**
 * Why: rules must match the path the backend will act on, so `/%61dmin` and `/admin` route alike (CVE-2024-38473)
 * and no spelling of `..` slips past a prefix (CVE-2021-41773); one normalisation serves matching and forwarding.
 */

/** A request-target split and normalised for matching; `path` is also what is forwarded. */
export interface RequestPath {
  /** The URL-path with percent-encoded unreserved characters decoded and other escapes in upper case (RFC 3986 6.2.2). */
  readonly path: string;
  /** The query without `?`, byte for byte; `''` when absent or empty. */
  readonly query: string;
  /** Whether the target had a `?` (an empty query is still forwarded as `?`). */
  readonly hasQuery: boolean;
}

/** A request-target that cannot be routed; answered 400. */
export interface BadRequestPath {
  readonly invalid: string;
}

/**
 * Dot segments, raw or percent-encoded, and with `\` or encoded separators (backends and WHATWG URL parsers treat
 * `\` as `/`, some decode `%2F`), would let a path leave its prefix once the backend normalises it.
 */
const DOT_SEGMENT = /(?:^|\/|\\|%2f|%5c)(?:\.|%2e){1,2}(?:\/|\\|%2f|%5c|;|%3b|$)/i;
/** Characters Node's parser lets through but RFC 3986 does not allow raw; encoded, as Apache canonicalises them. */
const NOT_IN_URL = /["<>^`{|}]/g;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Splits and normalises an origin-form request-target; anything else is a {@link BadRequestPath}. */
export function parseRequestPath(target: string): RequestPath | BadRequestPath {
  if (target.charCodeAt(0) !== 0x2f) return { invalid: 'request-target must be in origin-form' };
  // A fragment is never sent (RFC 9112 3.2), and WHATWG parsers read a raw `\` as `/`: a backend would act on another
  // path than the one the rules matched.
  if (target.includes('#')) return { invalid: 'a request-target cannot hold "#"' };
  const queryAt = target.indexOf('?');
  const raw = queryAt === -1 ? target : target.slice(0, queryAt);
  if (raw.includes('\\')) return { invalid: 'a path cannot hold a raw "\\" (write %5C)' };
  const decoded = raw.includes('%') ? normalizeEscapes(raw) : raw;
  if (decoded === undefined) return { invalid: 'malformed percent-encoding in the path' };
  if (DOT_SEGMENT.test(decoded)) return { invalid: 'dot segments are not allowed in the path' };
  // httpd merges the leading slashes before any rule sees the path; "//host/..." would also read as another host.
  const path = decoded
    .replace(/^\/{2,}/, '/')
    .replace(NOT_IN_URL, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  return queryAt === -1
    ? { path, query: '', hasQuery: false }
    : { path, query: target.slice(queryAt + 1), hasQuery: true };
}

/** Decodes escapes of unreserved characters and upper-cases the rest; `undefined` for a `%` not followed by two hex digits. */
function normalizeEscapes(raw: string): string | undefined {
  let out = '';
  let from = 0;
  for (let at = raw.indexOf('%'); at !== -1; at = raw.indexOf('%', from)) {
    const hex = raw.slice(at + 1, at + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    out += raw.slice(from, at) + (UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`);
    from = at + 3;
  }
  return out + raw.slice(from);
}

/** Bytes allowed in a request-target on the wire (RFC 9112 3.2: no space, CTL or non-ASCII). */
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/;

/**
 * Checks the origin-form target about to be written on the backend's request line: it may come from a substitution
 * or an adapter, so a space or CR/LF would split the request (CVE-2023-25690) and a dot segment would leave the
 * target's base path. Returns the reason it is unsafe, or `undefined`.
 */
export function unsafeBackendPath(path: string): string | undefined {
  if (!REQUEST_TARGET.test(path)) return 'the request-target holds characters that cannot be forwarded';
  const queryAt = path.indexOf('?');
  if (DOT_SEGMENT.test(queryAt === -1 ? path : path.slice(0, queryAt)))
    return 'dot segments are not allowed in the path';
  return undefined;
}
