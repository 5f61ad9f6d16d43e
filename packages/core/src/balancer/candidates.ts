/**
 * Why: which members a balancer may pick from is Apache's rule, not the lbmethod's (proxy_util.c
 * ap_proxy_balancer_get_best_worker): the lowest lbset with a usable member, hot spares standing in one for one for
 * unusable members, a lbset's hot standbys only when nothing else of it is usable, draining members never for new
 * sessions.
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
 * The members a new session may be given at `now`, in declaration order; empty when none is usable. Per lbset, lowest
 * first: its usable members, with spares standing in one for one for the unusable ones (a draining member counts as
 * unusable), else its standbys (Apache 2.4.34+). Members `open` refuses (already tried by this session, or not
 * tunnelling its protocol) count as unusable.
 */
export function candidates<Member extends MemberState>(
  members: readonly Member[],
  now: number,
  open: (member: Member) => boolean = () => true,
): Member[] {
  const lbsets = [...new Set(members.map((member) => member.lbset))].sort((a, b) => a - b);
  for (const lbset of lbsets) {
    const chosen: Member[] = [];
    const spares: Member[] = [];
    const standbys: Member[] = [];
    let unusable = 0;
    for (const member of members) {
      if (member.lbset !== lbset) continue;
      const { flags } = member;
      const ok = !flags.draining && open(member) && usable(member, now);
      if (flags.standby) {
        if (ok) standbys.push(member);
      } else if (flags.spare) {
        if (ok) spares.push(member);
      } else if (ok) chosen.push(member);
      else unusable++;
    }
    chosen.push(...spares.slice(0, unusable));
    if (chosen.length > 0) return chosen;
    if (standbys.length > 0) return standbys;
  }
  return [];
}
