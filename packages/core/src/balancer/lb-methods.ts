/**
 * Why: mod_proxy_balancer's lbmethods pick among the usable members of one lbset; they are pure functions over the
 * members' counters so each is tested without sockets (mod_lbmethod_byrequests/bytraffic/bybusyness).
 */

/** What a method reads and updates of one member. */
export interface MemberLoad {
  /** Apache `loadfactor`, 1-100. */
  readonly weight: number;
  /** Apache `lbstatus`: the smooth weighted round-robin credit. */
  credit: number;
  /** Open tunnels and requests in flight (Apache `busy`, released when the tunnel ends). */
  readonly busy: number;
  /** Bytes both ways over the member's tunnels (Apache `transferred` + `read`). */
  readonly bytes: number;
}

/** Picks one of `members` (all usable, same lbset), or `undefined` when there is none. */
export type LbMethod = (members: readonly MemberLoad[]) => MemberLoad | undefined;

/**
 * `byrequests`: every candidate earns its weight, the richest is chosen and pays the total (smooth weighted
 * round-robin: weights 5,1,1 give a a a b a c a, never a burst).
 */
export const byRequests: LbMethod = (members) => pickByCredit(members, () => false);

/** `bybusyness`: the fewest open tunnels; ties go to the byrequests credit (mod_lbmethod_bybusyness). */
export const byBusyness: LbMethod = (members) =>
  pickByCredit(
    members,
    (member, best) => member.busy < best.busy,
    (member, best) => member.busy === best.busy,
  );

/** `bytraffic`: the fewest bytes per unit of weight, both directions counted alike (mod_lbmethod_bytraffic). */
export const byTraffic: LbMethod = (members) => {
  let best: MemberLoad | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (const member of members) {
    const load = member.bytes / member.weight; // `bytes` may sum live tunnels: read once per member
    if (best === undefined || load < bestLoad) {
      best = member;
      bestLoad = load;
    }
  }
  return best;
};

function pickByCredit(
  members: readonly MemberLoad[],
  better: (member: MemberLoad, best: MemberLoad) => boolean,
  tie: (member: MemberLoad, best: MemberLoad) => boolean = () => true,
): MemberLoad | undefined {
  let best: MemberLoad | undefined;
  let total = 0;
  for (const member of members) {
    member.credit += member.weight;
    total += member.weight;
    if (best === undefined || better(member, best) || (tie(member, best) && member.credit > best.credit))
      best = member;
  }
  if (best !== undefined) best.credit -= total;
  return best;
}
