/**
 * Why: which members a balancer may pick from is Apache's rule, not the lbmethod's (proxy_util.c
 * ap_proxy_balancer_get_best_worker): the lowest lbset with a usable member, hot spares standing in one for one for
 * unusable members, hot standbys only when no lbset has anything else, draining members never for new sessions.
 */

/** BalancerMember `status` flags, as Apache names them. */
export interface MemberFlags {
  /** `D`: accepts no requests. */
  disabled?: boolean;
  /** `S`: administratively stopped. */
  stopped?: boolean;
  /** `I`: errors never make it unusable. */
  ignoreErrors?: boolean;
  /** `R`: hot spare, replaces an unusable member of its lbset one for one. */
  spare?: boolean;
  /** `H`: hot standby, used only when nothing else is usable. */
  standby?: boolean;
  /** `N`: draining, takes only sticky sessions already routed to it. */
  draining?: boolean;
  /** `C`: the health check failed. */
  healthFailed?: boolean;
}

/** What candidate selection reads of a member. */
export interface MemberState {
  readonly lbset: number;
  readonly flags: MemberFlags;
  /** Until when (ms since epoch) the member is in error (`E`), after a failure; `0` when it is not. */
  errorUntil: number;
}

/** Whether `member` may take a request at `now`: an error whose `retry` time has passed is forgotten (ap_proxy_retry_worker). */
export function usable(member: MemberState, now: number): boolean {
  const { flags } = member;
  if (flags.disabled || flags.stopped || flags.healthFailed) return false;
  if (member.errorUntil !== 0 && member.errorUntil <= now) member.errorUntil = 0;
  return member.errorUntil === 0 || flags.ignoreErrors === true;
}

/**
 * The members a new session may be given at `now`, in declaration order; empty when none is usable. Members `open`
 * refuses (already tried by this session, or not tunnelling its protocol) count as unusable.
 */
export function candidates<Member extends MemberState>(
  members: readonly Member[],
  now: number,
  open: (member: Member) => boolean = () => true,
): Member[] {
  const lbsets = [...new Set(members.map((member) => member.lbset))].sort((a, b) => a - b);
  for (const standby of [false, true]) {
    for (const lbset of lbsets) {
      const chosen: Member[] = [];
      const spares: Member[] = [];
      let unusable = 0;
      for (const member of members) {
        if (member.lbset !== lbset || (member.flags.standby === true) !== standby || member.flags.draining)
          continue;
        if (!open(member) || !usable(member, now)) {
          if (!member.flags.spare) unusable++;
        } else if (member.flags.spare) spares.push(member);
        else chosen.push(member);
      }
      chosen.push(...spares.slice(0, unusable));
      if (chosen.length > 0) return chosen;
    }
  }
  return [];
}
