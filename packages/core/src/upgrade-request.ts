/** Why: decide, before any byte goes to a backend, whether a client request is an upgrade this target may tunnel (RFC 9110 7.8, RFC 6455 4.1). */

import type { IncomingMessage } from 'node:http';
import { commaList } from './header-lists.ts';

/** The verdict on a client request that reached a tunnelling rule. */
export type UpgradeCheck =
  /** Tunnel it, asking the backend for `token`. */
  | { readonly kind: 'upgrade'; readonly token: string }
  /** Not an upgrade (HTTP/1.0, no `Connection: upgrade`, token not allowed, non-GET WebSocket): answer it as plain HTTP. */
  | { readonly kind: 'plain'; readonly reason: string }
  /** Malformed: answer 400 and close. */
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * Dot segments, raw or percent-encoded, and with `\\` as a separator (WHATWG URL parsers treat it as `/`), would let
 * a path escape the target's base path once the backend normalises it.
 */
const DOT_SEGMENT = /(?:^|\/|\\|%2f|%5c)(?:\.|%2e){1,2}(?:\/|\\|%2f|%5c|$)/i;

/** Classifies `req` against the target's allowed upgrade tokens (lower-case, or `'*'` for any). */
export function checkUpgradeRequest(req: IncomingMessage, allowed: readonly string[] | '*'): UpgradeCheck {
  const target = req.url ?? '';
  if (!target.startsWith('/')) return { kind: 'malformed', reason: 'request-target must be in origin-form' };
  const queryAt = target.indexOf('?');
  if (DOT_SEGMENT.test(queryAt === -1 ? target : target.slice(0, queryAt))) {
    return { kind: 'malformed', reason: 'dot segments are not allowed in the path' };
  }
  const headers = req.headers;
  if (headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0') {
    // A body on an upgrade request would be forwarded ahead of the tunnel and read as tunnel data (RFC 9931).
    return { kind: 'malformed', reason: 'upgrade requests with a body are not tunnelled' };
  }
  // Node reads a request line broken by CR/LF as HTTP/0.9; it is malformed, not merely "not an upgrade".
  if (req.httpVersionMajor === 0) return { kind: 'malformed', reason: 'malformed request line' };
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) {
    return { kind: 'plain', reason: 'Upgrade is ignored in HTTP/1.0 (RFC 9110 7.8)' };
  }
  const upgrade = headers.upgrade;
  if (upgrade === undefined) return { kind: 'plain', reason: 'no Upgrade header' };
  if (!commaList(headers.connection).includes('upgrade')) {
    return { kind: 'plain', reason: 'Connection does not list "upgrade" (RFC 9110 7.8)' };
  }
  // split + trim, not a regex around the comma: a long run of spaces must not cost quadratic time.
  const offered = upgrade.split(',');
  const protocol = offered[0]!.trim();
  if (offered.length !== 1 || protocol === '') {
    return { kind: 'malformed', reason: 'exactly one Upgrade protocol must be offered' };
  }
  const token = protocol.toLowerCase();
  if (allowed !== '*' && !allowed.includes(token)) {
    return { kind: 'plain', reason: `upgrade to "${token}" is not allowed on this route` };
  }
  if (token === 'websocket' && req.method !== 'GET') {
    return { kind: 'plain', reason: 'a WebSocket handshake must be a GET (RFC 6455 4.1)' };
  }
  return { kind: 'upgrade', token: protocol };
}

/** Bytes allowed in a request-target on the wire (RFC 9112 3.2: no space, CTL or non-ASCII). */
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/;

/**
 * Checks the origin-form target about to be written on the backend's request line. It may come from an adapter
 * (a mount-relative path), so it is checked itself: a space or CR/LF would split the request (CVE-2023-25690), a
 * dot segment would leave the target's base path. Returns the reason it is unsafe, or `undefined`.
 */
export function unsafeBackendPath(path: string): string | undefined {
  if (!REQUEST_TARGET.test(path)) return 'the request-target holds characters that cannot be forwarded';
  const queryAt = path.indexOf('?');
  if (DOT_SEGMENT.test(queryAt === -1 ? path : path.slice(0, queryAt)))
    return 'dot segments are not allowed in the path';
  return undefined;
}
