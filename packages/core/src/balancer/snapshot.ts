/** Why: the balancer-manager page is a JSON document; its shape is a public contract, so it is typed and built in one place. */

import type { HealthCheckResult, Member } from './member.ts';
import type { Sticky } from './sticky.ts';

/** One member in a {@link BalancerSnapshot}. */
export interface MemberSnapshot {
  readonly name: string;
  readonly url: string;
  readonly weight: number;
  readonly lbset: number;
  readonly route: string | null;
  /** Apache's status letters: `Ok`, or any of `D S I R H E N C`. */
  readonly status: string;
  readonly disabled: boolean;
  readonly stopped: boolean;
  readonly ignoreErrors: boolean;
  readonly spare: boolean;
  readonly standby: boolean;
  readonly draining: boolean;
  readonly healthFailed: boolean;
  /** ISO time until which the member is in error, or `null`. */
  readonly inErrorUntil: string | null;
  /** Open tunnels and plain requests in flight. */
  readonly busy: number;
  /** Sessions given to this member. */
  readonly chosen: number;
  /** Bytes both ways, finished and open tunnels included. */
  readonly bytes: number;
  /** Failures that put it in error. */
  readonly errors: number;
  readonly lastHealthCheck: { readonly at: string; readonly ok: boolean; readonly detail: string } | null;
}

/** A balancer's state, as `Balancer.snapshot()` and the manager handler give it. */
export interface BalancerSnapshot {
  readonly name: string;
  readonly method: string;
  readonly sticky: {
    readonly cookie: string | null;
    readonly param: string | null;
    readonly noFailover: boolean;
  } | null;
  readonly members: readonly MemberSnapshot[];
}

/** Builds the snapshot at `now`. */
export function snapshotBalancer(
  name: string,
  method: string,
  sticky: Sticky | undefined,
  members: readonly Member[],
  now: number,
): BalancerSnapshot {
  return {
    name,
    method,
    sticky:
      sticky === undefined
        ? null
        : { cookie: sticky.cookie ?? null, param: sticky.param ?? null, noFailover: sticky.noFailover },
    members: members.map((member) => memberSnapshot(member, now)),
  };
}

function memberSnapshot(member: Member, now: number): MemberSnapshot {
  const { flags } = member;
  return {
    name: member.name,
    url: member.url,
    weight: member.weight,
    lbset: member.lbset,
    route: member.route ?? null,
    status: member.statusLetters(now),
    disabled: flags.disabled === true,
    stopped: flags.stopped === true,
    ignoreErrors: flags.ignoreErrors === true,
    spare: flags.spare === true,
    standby: flags.standby === true,
    draining: flags.draining === true,
    healthFailed: flags.healthFailed === true,
    inErrorUntil: member.errorUntil > now ? new Date(member.errorUntil).toISOString() : null,
    busy: member.busy,
    chosen: member.chosen,
    bytes: member.bytes,
    errors: member.errors,
    lastHealthCheck: healthCheck(member.lastHealthCheck),
  };
}

function healthCheck(result: HealthCheckResult | undefined): MemberSnapshot['lastHealthCheck'] {
  return result === undefined
    ? null
    : { at: new Date(result.at).toISOString(), ok: result.ok, detail: result.detail };
}
