/**
 * Why: the order in which Apache decides who gets a session (mod_proxy_balancer find_best_worker): force recovery,
 * then the sticky route, then the candidates of the lowest usable lbset handed to the lbmethod.
 */

import type { IncomingMessage } from 'node:http';
import { candidates, usable } from './candidates.ts';
import type { Member } from './member.ts';
import { routeCookie, type Sticky, stickyRoute } from './sticky.ts';

/** An lbmethod over members: picks one of `members` (all usable, one lbset) for `req`. */
export type MemberMethod = (members: readonly Member[], req: IncomingMessage) => Member | undefined;

/** What the choice reads of a balancer. */
export interface ChoiceInput {
  readonly members: readonly Member[];
  readonly sticky: Sticky | undefined;
  readonly forceRecovery: boolean;
  readonly method: MemberMethod;
}

/** Who gets a session, or why nobody does. */
export type MemberPick =
  | {
      readonly member: Member;
      /** The `Set-Cookie` value to send when the route was chosen or changed (sticky `setCookie`). */
      readonly cookie: string | undefined;
    }
  | {
      readonly member: undefined;
      /** 503 when nobody is usable, 500 when a strategy function threw. */
      readonly status: 500 | 503;
      readonly reason: string;
    };

/**
 * The member for the next attempt of a session. `token` (an upgrade) limits it to members that tunnel that protocol;
 * `tried` holds the members that already failed this session. Asked again on every attempt, as Apache does, so a
 * sticky session with `noFailover` never moves.
 */
export function chooseMember(
  input: ChoiceInput,
  req: IncomingMessage,
  token: string | undefined,
  tried: ReadonlySet<Member>,
  now: number,
): MemberPick {
  const { members, sticky } = input;
  // Once per session, before the sticky route (Apache's order): a member this session just failed stays failed.
  if (input.forceRecovery && tried.size === 0) recoverWhenAllInError(members, now);
  const route = sticky === undefined ? undefined : stickyRoute(sticky, req);
  if (route !== undefined) {
    // Several members may share a route (Apache walks them all); a draining one still takes its own sessions.
    const owners = members.filter((member) => member.route === route && accepts(member, token));
    const owner = owners.find((member) => !tried.has(member) && usable(member, now));
    if (owner !== undefined) {
      creditSession(members, owner, now);
      return { member: owner, cookie: undefined };
    }
    if (owners.length > 0 && sticky!.noFailover)
      return { member: undefined, status: 503, reason: `no usable member for route ${route} (noFailover)` };
  }
  const open = (member: Member): boolean => !tried.has(member) && accepts(member, token);
  const choice = candidates(members, now, open);
  let member: Member | undefined;
  try {
    member = choice.length === 0 ? undefined : input.method(choice, req);
  } catch (error) {
    const why = error instanceof Error ? error.message : 'a non-Error value';
    return { member: undefined, status: 500, reason: `the balancer strategy threw: ${why}` };
  }
  if (member === undefined) return { member: undefined, status: 503, reason: 'no usable member' };
  const changed = sticky !== undefined && member.route !== undefined && member.route !== route;
  return { member, cookie: changed ? routeCookie(sticky, member.route!) : undefined };
}

/** Whether `member` tunnels `token` (Apache: `upgrade=` is read from the chosen worker). */
export function accepts(member: Member, token: string | undefined): boolean {
  if (token === undefined) return true;
  const { upgrade } = member.target;
  return upgrade === '*' || upgrade === 'none' || upgrade.includes(token.toLowerCase());
}

/**
 * A session routed by its sticky route still counts in the byrequests credit (Apache: "even session routes get into
 * account"): every usable member earns its weight, the routed one pays the total.
 */
function creditSession(members: readonly Member[], routed: Member, now: number): void {
  let total = 0;
  for (const member of members) {
    if (!usable(member, now)) continue;
    member.credit += member.weight;
    total += member.weight;
  }
  routed.credit -= total;
}

/** Apache `forcerecovery`: when every member is in error, they all get another chance rather than a 503. */
function recoverWhenAllInError(members: readonly Member[], now: number): void {
  if (members.length === 0 || members.some((member) => member.errorUntil <= now)) return;
  for (const member of members) member.errorUntil = 0;
}
