/**
 * Why: one `balancer://name` decides, per handshake or request, which member gets it (sticky route, Apache's
 * candidate rules, the lbmethod) and keeps the members' state that decision reads; it is also the runtime API.
 */

import type { IncomingMessage } from 'node:http';
import { configError } from '../errors.ts';
import type { TargetOptions } from '../options.ts';
import { type BalancerConfig, resolveBalancerConfig, unionOfUpgrades } from './balancer-config.ts';
import type { BalancerMemberOptions, BalancerOptions, MemberChange, MemberView } from './balancer-options.ts';
import { candidates } from './candidates.ts';
import { accepts, type ChoiceInput, chooseMember, type MemberPick } from './choose-member.ts';
import { type ResolvedHealthCheck, resolveHealthCheck } from './health-check.ts';
import { Member } from './member.ts';
import { checkKeys } from './option-keys.ts';
import { type BalancerSnapshot, snapshotBalancer } from './snapshot.ts';
import { resolveSticky, type Sticky } from './sticky.ts';

export type { MemberPick } from './choose-member.ts';

/** A change to a member's state, for `balancer` events. */
export interface MemberEvent {
  readonly balancer: string;
  readonly member: string;
  /**
   * `'error'`: a failure put it in error for `retry` ms; `'health-failed'` / `'health-passed'`: a health check took it
   * out or brought it back; `'changed'`, `'added'`, `'removed'`: the runtime API.
   */
  readonly kind: 'error' | 'health-failed' | 'health-passed' | 'changed' | 'added' | 'removed';
  /** Why (`ECONNREFUSED`, `status 503`, the change made). */
  readonly detail: string;
}

/** What users may do with a balancer at runtime (`tunnel.balancers.get(name)`): the balancer-manager's powers. */
export type BalancerControl = Pick<
  Balancer,
  'name' | 'members' | 'member' | 'set' | 'add' | 'remove' | 'snapshot'
>;

/** One load balancer and its members. */
export class Balancer {
  readonly name: string;
  /** Upgrade tokens some configured member tunnels (a rule decides on these; the pick keeps to members that take the token). */
  readonly upgrade: readonly string[] | '*' | 'none';
  /** Whether every configured member is a `ws://`/`wss://` one. */
  readonly websocketScheme: boolean;
  /** The balancer-level options, validated. */
  readonly config: BalancerConfig;
  readonly #members: Member[] = [];
  readonly #sticky: Sticky | undefined;
  readonly #choice: ChoiceInput;
  readonly #defaults: TargetOptions;
  readonly #report: (event: MemberEvent) => void;
  readonly #healthCheck: ResolvedHealthCheck | undefined;
  /**
   * Set by the health monitor, so members added at runtime are checked too.
   * @internal
   */
  onAdded: ((member: Member) => void) | undefined;

  constructor(
    name: string,
    options: BalancerOptions,
    defaults: TargetOptions,
    report: (event: MemberEvent) => void,
  ) {
    const where = `balancer://${name}`;
    if (typeof options !== 'object' || options === null || !Array.isArray(options.members))
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: needs { members: [...] }`);
    checkKeys(options, 'balancer', where);
    this.name = name;
    this.#defaults = defaults;
    this.#report = report;
    this.#healthCheck =
      options.healthCheck === undefined
        ? undefined
        : resolveHealthCheck(options.healthCheck, `${where} healthCheck`);
    this.config = resolveBalancerConfig(options, where);
    this.#sticky = resolveSticky(options.sticky, where);
    for (const member of options.members) this.#add(member);
    if (this.#members.length === 0) configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: has no members`);
    this.upgrade = unionOfUpgrades(this.#members, where);
    this.websocketScheme = this.#members.every((member) => member.target.websocketScheme);
    this.#choice = {
      members: this.#members,
      sticky: this.#sticky,
      forceRecovery: this.config.forceRecovery,
      method: this.config.method,
    };
  }

  /** The members, in declaration order. */
  get members(): readonly MemberView[] {
    return this.#members.map((member) => member.view);
  }

  /**
   * Every member, for the engine and health checks.
   * @internal
   */
  get memberStates(): readonly Member[] {
    return this.#members;
  }

  /** Members tried after the first one fails (Apache `maxattempts`, default: members - 1, at least 1). */
  get maxAttempts(): number {
    return this.config.maxAttempts ?? Math.max(1, this.#members.length - 1);
  }

  /** A member by name. */
  member(name: string): MemberView | undefined {
    return this.#find(name)?.view;
  }

  /** Changes a member at runtime; open tunnels are untouched. Throws WstunnelConfigError for an unknown member or bad value. */
  set(name: string, change: MemberChange): void {
    const member = this.#find(name);
    if (member === undefined) return configError('ERR_WSTUNNEL_INVALID_BALANCER', this.#unknown(name));
    member.apply(change, `balancer://${this.name} member ${name}`);
    this.#report({ balancer: this.name, member: name, kind: 'changed', detail: JSON.stringify(change) });
  }

  /** Adds a member at runtime. */
  add(options: BalancerMemberOptions): MemberView {
    const member = this.#add(options, this.upgrade);
    this.onAdded?.(member);
    this.#report({ balancer: this.name, member: member.name, kind: 'added', detail: member.url });
    return member.view;
  }

  /** Removes a member: nothing new reaches it, its open tunnels run to their end. */
  remove(name: string): void {
    const at = this.#members.findIndex((member) => member.name === name);
    if (at === -1) return configError('ERR_WSTUNNEL_INVALID_BALANCER', this.#unknown(name));
    if (this.#members.length === 1)
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `balancer://${this.name}: cannot remove its last member`);
    const [member] = this.#members.splice(at, 1);
    member!.removed = true;
    this.#report({ balancer: this.name, member: name, kind: 'removed', detail: member!.url });
  }

  /** The state of the balancer and its members, as plain JSON (the balancer-manager page). */
  snapshot(): BalancerSnapshot {
    return snapshotBalancer(this.name, this.config.methodName, this.#sticky, this.#members, Date.now());
  }

  /**
   * Picks the member for the next attempt of a session and counts it as busy (see {@link chooseMember}). Engine use:
   * every pick must be ended with `Member.end` or `Member.track`.
   * @internal
   */
  pick(req: IncomingMessage, token: string | undefined, tried: ReadonlySet<Member>): MemberPick {
    const pick = chooseMember(this.#choice, req, token, tried, Date.now());
    pick.member?.begin();
    return pick;
  }

  /**
   * Whether another member may still take a session that tried `tried` (attempts left, and someone usable left).
   * @internal
   */
  canRetry(token: string | undefined, tried: ReadonlySet<Member>): boolean {
    if (tried.size > this.maxAttempts) return false;
    const open = (member: Member): boolean => !tried.has(member) && accepts(member, token);
    return candidates(this.#members, Date.now(), open).length > 0;
  }

  /**
   * A failure of `member` (connect error, reset, `failonstatus`, `failontimeout`): in error for its `retry` time.
   * @internal
   */
  failed(member: Member, detail: string): void {
    member.errors++;
    if (member.flags.ignoreErrors) return;
    member.errorUntil = Date.now() + member.retry;
    this.#report({ balancer: this.name, member: member.name, kind: 'error', detail });
  }

  /**
   * Reports a health-check change of `member`.
   * @internal
   */
  healthChanged(member: Member, failed: boolean, detail: string): void {
    member.flags.healthFailed = failed;
    const kind = failed ? 'health-failed' : 'health-passed';
    this.#report({ balancer: this.name, member: member.name, kind, detail });
  }

  /** Adds a member; at runtime (`within` given) it may not tunnel protocols the rules did not decide on. */
  #add(options: BalancerMemberOptions, within?: Balancer['upgrade']): Member {
    const where = `balancer://${this.name} member #${this.#members.length + 1}`;
    const member = new Member(options, this.#defaults, where);
    if (this.#find(member.name) !== undefined)
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: another member is already named ${member.name}`,
      );
    const own = member.healthCheck;
    member.check =
      own === false
        ? undefined
        : own === undefined
          ? this.#healthCheck
          : resolveHealthCheck(own, `${where} healthCheck`);
    if (within !== undefined && !tunnelsWithin(member.target.upgrade, within))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: upgrade ${JSON.stringify(member.target.upgrade)} goes beyond what the configured members tunnel (${JSON.stringify(within)}); rules decided on those`,
      );
    this.#members.push(member);
    return member;
  }

  #find(name: string): Member | undefined {
    return this.#members.find((member) => member.name === name);
  }

  #unknown(name: string): string {
    return `balancer://${this.name} has no member named ${JSON.stringify(name)}`;
  }
}

function tunnelsWithin(own: Balancer['upgrade'], union: Balancer['upgrade']): boolean {
  if (union === '*') return true;
  if (union === 'none') return own === 'none';
  return Array.isArray(own) && own.every((token) => union.includes(token));
}
