/** Why: decide, before any byte goes to a backend, whether a client request is an upgrade this target may tunnel (RFC 9110 7.8, RFC 6455 4.1). */

import type { IncomingMessage } from 'node:http';
import { commaList } from './header-lists.ts';

/** The verdict on a client request that reached a rule. */
export type UpgradeCheck =
  /** Tunnel it, asking the backend for `token`. */
  | { readonly kind: 'upgrade'; readonly token: string }
  /** Not an upgrade this target tunnels (HTTP/1.0, no `Connection: upgrade`, token not allowed, non-GET WebSocket). */
  | { readonly kind: 'plain'; readonly reason: string }
  /** An upgrade this target would tunnel, but malformed: answer 400 and close. */
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * Classifies `req` against the target's allowed upgrade tokens: lower-case tokens, `'*'` for any (Apache
 * `upgrade=ANY`), or `'none'` (Apache `upgrade=NONE`: any upgrade request becomes a WebSocket one).
 */
export function checkUpgradeRequest(
  req: IncomingMessage,
  allowed: readonly string[] | '*' | 'none',
): UpgradeCheck {
  // Node reads a request line broken by CR/LF as HTTP/0.9; it is malformed, not merely "not an upgrade".
  if (req.httpVersionMajor === 0) return { kind: 'malformed', reason: 'malformed request line' };
  const headers = req.headers;
  const upgrade = headers.upgrade;
  // Even for NONE: Node hands a request over as an upgrade (with its socket) only when it carries Upgrade.
  if (upgrade === undefined) return { kind: 'plain', reason: 'no Upgrade header' };
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) {
    return { kind: 'plain', reason: 'Upgrade is ignored in HTTP/1.0 (RFC 9110 7.8)' };
  }
  if (!commaList(headers.connection).includes('upgrade')) {
    return { kind: 'plain', reason: 'Connection does not list "upgrade" (RFC 9110 7.8)' };
  }
  let token = 'websocket';
  if (allowed !== 'none') {
    // split + trim, not a regex around the comma: a long run of spaces must not cost quadratic time.
    const offered = upgrade.split(',').map((protocol) => protocol.trim());
    if (allowed !== '*' && !offered.some((protocol) => allowed.includes(protocol.toLowerCase()))) {
      return { kind: 'plain', reason: 'no Upgrade protocol offered is allowed on this route' };
    }
    if (offered.length !== 1 || offered[0] === '') {
      return { kind: 'malformed', reason: 'exactly one Upgrade protocol must be offered' };
    }
    token = offered[0]!;
  }
  if (token.toLowerCase() === 'websocket' && req.method !== 'GET') {
    return { kind: 'plain', reason: 'a WebSocket handshake must be a GET (RFC 6455 4.1)' };
  }
  if (headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0') {
    // A body on an upgrade request would be forwarded ahead of the tunnel and read as tunnel data (RFC 9931).
    return { kind: 'malformed', reason: 'upgrade requests with a body are not tunnelled' };
  }
  return { kind: 'upgrade', token };
}
