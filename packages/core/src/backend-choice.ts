/** Why: the tunnel and plain-HTTP engines ask one question per attempt, "which backend?", whether a rule names a URL or a balancer. */

import type { IncomingMessage } from 'node:http';
import type { Balancer } from './balancer/balancer.ts';
import type { Member } from './balancer/member.ts';
import type { BackendFailure } from './handshake.ts';
import type { RuleMatch } from './rules.ts';
import type { Target } from './target.ts';

/** Where one attempt goes. */
export interface BackendChoice {
  readonly target: Target;
  readonly backendPath: string;
  /** The balancer member, when the rule names a balancer. */
  readonly member: Member | undefined;
  /** The `Set-Cookie` value to send when a sticky route was chosen or changed. */
  readonly cookie: string | undefined;
}

/** Nobody can take the attempt: answer `status`. */
export interface NoBackend {
  readonly status: number;
  readonly reason: string;
}

/**
 * The backend for the next attempt of `match`. `tried` holds the members that failed this session already: once
 * they are more than the balancer's `maxattempts`, or nobody is left, the answer is 503.
 */
export function chooseBackend(
  match: RuleMatch,
  req: IncomingMessage,
  token: string | undefined,
  tried: Set<Member>,
): BackendChoice | NoBackend {
  const { balancer } = match;
  if (balancer === undefined)
    return { target: match.target, backendPath: match.backendPath, member: undefined, cookie: undefined };
  if (tried.size > balancer.maxAttempts)
    return { status: 503, reason: `no member of balancer://${balancer.name} answered (${tried.size} tried)` };
  const pick = balancer.pick(req, token, tried);
  if (pick.member === undefined)
    return { status: pick.status, reason: `balancer://${balancer.name}: ${pick.reason}` };
  tried.add(pick.member);
  const { target } = pick.member;
  return {
    target,
    backendPath: target.basePath + match.backendPath,
    member: pick.member,
    cookie: pick.cookie,
  };
}

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
