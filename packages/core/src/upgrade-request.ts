/** Why: decide, before any byte goes to a backend, whether a client request is an upgrade this target may tunnel (RFC 9110 7.8, RFC 6455 4.1). */

import type { IncomingMessage } from 'node:http';

/** The verdict on a client request that reached a tunnelling rule. */
export type UpgradeCheck =
  /** Tunnel it, asking the backend for `token`. */
  | { readonly kind: 'upgrade'; readonly token: string }
  /** Not an upgrade (HTTP/1.0, no `Connection: upgrade`, token not allowed, non-GET WebSocket): answer it as plain HTTP. */
  | { readonly kind: 'plain'; readonly reason: string }
  /** Malformed: answer 400 and close. */
  | { readonly kind: 'malformed'; readonly reason: string };

const TOKEN_LIST_SEPARATOR = /\s*,\s*/;
/** Dot segments, raw or percent-encoded, would let a path escape the target's base path once the backend normalises it. */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

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
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) {
    return { kind: 'plain', reason: 'Upgrade is ignored in HTTP/1.0 (RFC 9110 7.8)' };
  }
  const upgrade = headers.upgrade;
  if (upgrade === undefined) return { kind: 'plain', reason: 'no Upgrade header' };
  if (!hasToken(headers.connection, 'upgrade')) {
    return { kind: 'plain', reason: 'Connection does not list "upgrade" (RFC 9110 7.8)' };
  }
  const offered = upgrade.trim().split(TOKEN_LIST_SEPARATOR);
  if (offered.length !== 1 || offered[0] === '') {
    return { kind: 'malformed', reason: 'exactly one Upgrade protocol must be offered' };
  }
  const token = offered[0]!.toLowerCase();
  if (allowed !== '*' && !allowed.includes(token)) {
    return { kind: 'plain', reason: `upgrade to "${token}" is not allowed on this route` };
  }
  if (token === 'websocket' && req.method !== 'GET') {
    return { kind: 'plain', reason: 'a WebSocket handshake must be a GET (RFC 6455 4.1)' };
  }
  return { kind: 'upgrade', token: offered[0]! };
}

/** Whether a comma-separated header (possibly repeated) lists `token`, case-insensitively. */
export function hasToken(value: string | readonly string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const joined = typeof value === 'string' ? value : value.join(',');
  for (const item of joined.split(',')) if (item.trim().toLowerCase() === token) return true;
  return false;
}
