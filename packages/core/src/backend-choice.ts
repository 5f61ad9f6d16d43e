/** Why: the tunnel and plain-HTTP engines ask one question per attempt, "which backend?", whether a rule names a URL or a balancer. */

import type { IncomingMessage } from 'node:http';
import type { Member } from './balancer/member.ts';
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

/** Shared by every session of a plain target: nothing is ever added to it (only balancers record tried members). */
const NONE_TRIED: Set<Member> = new Set();

/** The members a new session of `match` has tried: none yet (no allocation for a plain target). */
export function triedMembers(match: RuleMatch): Set<Member> {
  return match.balancer === undefined ? NONE_TRIED : new Set();
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
