/**
 * Why: which backend failures a balancer fails over from is mod_proxy_balancer's rule (a connect failure or reset
 * always; a timeout with `failontimeout`; a status in `failonstatus`), kept apart from the handshake that meets them.
 */

import type { Balancer } from './balancer/balancer.ts';
import type { Member } from './balancer/member.ts';
import type { TunnelErrorCode } from './errors.ts';

/** A failure of the backend that a balancer may fail over from (mod_proxy_balancer `failonstatus`, `failontimeout`). */
export type BackendFailure =
  /** It could not be reached (refused, unreachable, TLS failed, connect timeout). */
  | { readonly kind: 'connect'; readonly detail: string }
  /** It closed or reset the connection before answering. */
  | { readonly kind: 'closed'; readonly detail: string }
  /** It did not answer within `timeout`. */
  | { readonly kind: 'timeout'; readonly detail: string }
  /** It answered with this non-101 status. */
  | { readonly kind: 'status'; readonly status: number; readonly detail: string };

/** Which handshake failures are the backend's, and so may be failed over from. */
export const FAILOVER_KINDS: Partial<Record<TunnelErrorCode, 'connect' | 'closed' | 'timeout'>> = {
  ERR_WSTUNNEL_CONNECT: 'connect',
  ERR_WSTUNNEL_CONNECT_TIMEOUT: 'connect',
  ERR_WSTUNNEL_BACKEND_CLOSED: 'closed',
  ERR_WSTUNNEL_HANDSHAKE_TIMEOUT: 'timeout',
};

/**
 * Whether the session leaves `failure` of `member` to its balancer, to try another member. A connect failure or a
 * reset always puts the member in error and is always taken (no answer came: with no member left, the client gets
 * 503). A timeout (`failontimeout`) or a `failonstatus` status puts it in error too, but when no other member can be
 * tried the member's own answer (504, or its response) is what the client gets.
 */
export function failsOver(
  balancer: Balancer,
  member: Member,
  failure: BackendFailure,
  tried: ReadonlySet<Member>,
  token: string,
): boolean {
  const { failOnTimeout, failOnStatus } = balancer.config;
  const unreachable = failure.kind === 'connect' || failure.kind === 'closed';
  const fails =
    unreachable ||
    (failure.kind === 'timeout' && failOnTimeout) ||
    (failure.kind === 'status' && failOnStatus.has(failure.status));
  if (!fails) return false;
  balancer.failed(member, failure.detail);
  return unreachable || balancer.canRetry(token, tried);
}
