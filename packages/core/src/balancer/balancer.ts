/**
 * Why: one `balancer://name` decides, per handshake or request, which member gets it (sticky route, Apache's
 * candidate rules, the lbmethod) and keeps the members' state that decision reads; it is also the runtime API.
 */

import type { IncomingMessage } from 'node:http';
import { configError } from '../errors.ts';
import type { TargetOptions } from '../options.ts';
import type {
  BalancerMemberOptions,
  BalancerOptions,
  HashKey,
  MemberChange,
  MemberView,
} from './balancer-options.ts';
import { candidates, usable } from './candidates.ts';
import { hashKey, rendezvous, resolveHashKey } from './hashing.ts';
import { type ResolvedHealthCheck, resolveHealthCheck } from './health-check.ts';
import { byBusyness, byRequests, byTraffic, type LbMethod } from './lb-methods.ts';
import { Member } from './member.ts';
import { type BalancerSnapshot, snapshotBalancer } from './snapshot.ts';
import { resolveSticky, routeCookie, type Sticky, stickyRoute } from './sticky.ts';

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

/** Who gets a session, or why nobody does. */
export type Pick =
  | {
      readonly member: Member;
      /** The `Set-Cookie` line for the 101 when the route was chosen or changed (sticky `setCookie`). */
      readonly cookie: string | undefined;
    }
  | {
      readonly member: undefined;
      /** 503 when nobody is usable, 500 when a strategy function threw. */
      readonly status: 500 | 503;
      readonly reason: string;
    };

const METHODS: Record<string, LbMethod> = {
  byrequests: byRequests,
  bybusyness: byBusyness,
  bytraffic: byTraffic,
};

/** One load balancer and its members. */
export class Balancer {
  readonly name: string;
  /** Statuses of a backend answer that fail the member over (Apache `failonstatus`). */
  readonly failOnStatus: ReadonlySet<number>;
  readonly failOnTimeout: boolean;
  /** Upgrade tokens some configured member tunnels (a rule decides on these; the pick keeps to members that take the token). */
  readonly upgrade: readonly string[] | '*' | 'none';
  /** Whether every configured member is a `ws://`/`wss://` one. */
  readonly websocketScheme: boolean;
  readonly #members: Member[] = [];
  readonly #method: LbMethod | ((members: readonly Member[], req: IncomingMessage) => Member | undefined);
  readonly #methodName: string;
  readonly #sticky: Sticky | undefined;
  readonly #maxAttempts: number | undefined;
  readonly #forceRecovery: boolean;
  readonly #defaults: TargetOptions;
  readonly #report: (event: MemberEvent) => void;
  readonly #healthCheck: ResolvedHealthCheck | undefined;
  /** Set by the health monitor, so members added at runtime are checked too. */
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
    this.name = name;
    this.#defaults = defaults;
    this.#report = report;
    this.#healthCheck =
      options.healthCheck === undefined
        ? undefined
        : resolveHealthCheck(options.healthCheck, `${where} healthCheck`);
    const {
      method = 'byrequests',
      failOnStatus = [],
      failOnTimeout = false,
      maxAttempts,
      forceRecovery = true,
    } = options;
    for (const member of options.members) this.#add(member);
    if (this.#members.length === 0) configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: has no members`);
    this.upgrade = unionOfUpgrades(this.#members, where);
    this.websocketScheme = this.#members.every((member) => member.target.websocketScheme);
    [this.#method, this.#methodName] = resolveMethod(method, where);
    this.#sticky = resolveSticky(options.sticky, where);
    if (!Array.isArray(failOnStatus) || failOnStatus.some((s) => !Number.isInteger(s) || s < 100 || s > 599))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: failOnStatus must be an array of statuses 100-599`,
      );
    this.failOnStatus = new Set(failOnStatus);
    if (typeof failOnTimeout !== 'boolean' || typeof forceRecovery !== 'boolean')
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: failOnTimeout and forceRecovery must be booleans`,
      );
    this.failOnTimeout = failOnTimeout;
    this.#forceRecovery = forceRecovery;
    if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 0 || maxAttempts > 100))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: maxAttempts must be a whole number from 0 to 100`,
      );
    this.#maxAttempts = maxAttempts;
  }

  /** The members, in declaration order. */
  get members(): readonly MemberView[] {
    return this.#members.map((member) => member.view);
  }

  /** Every member, for the engine and health checks. */
  get memberStates(): readonly Member[] {
    return this.#members;
  }

  /** Members tried after the first one fails (Apache `maxattempts`, default: members - 1, at least 1). */
  get maxAttempts(): number {
    return this.#maxAttempts ?? Math.max(1, this.#members.length - 1);
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
    const member = this.#add(options);
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
    return snapshotBalancer(this.name, this.#methodName, this.#sticky, this.#members, Date.now());
  }

  /**
   * Picks the member for a new session. `token` (an upgrade) limits it to members that tunnel that protocol;
   * `tried` holds members that already failed this session (no sticky route is honoured then).
   */
  pick(req: IncomingMessage, token: string | undefined, tried: ReadonlySet<Member>): Pick {
    const now = Date.now();
    const sticky = this.#sticky;
    const route = sticky === undefined ? undefined : stickyRoute(sticky, req);
    if (route !== undefined && tried.size === 0) {
      const member = this.#members.find((m) => m.route === route);
      if (member !== undefined && accepts(member, token)) {
        if (usable(member, now)) return this.#chosen(member, undefined);
        if (sticky!.noFailover)
          return {
            member: undefined,
            status: 503,
            reason: `the member of route ${route} is unusable (noFailover)`,
          };
      }
    }
    const open = (member: Member): boolean => !tried.has(member) && accepts(member, token);
    let choice = candidates(this.#members, now, open);
    if (choice.length === 0 && this.#forceRecovery && this.#allInError(now, open)) {
      // Apache forcerecovery: every member in error would mean 503 until a retry expires; try them again instead.
      for (const member of this.#members) member.errorUntil = 0;
      choice = candidates(this.#members, now, open);
    }
    let member: Member | undefined;
    try {
      member = choice.length === 0 ? undefined : (this.#method(choice, req) as Member | undefined);
    } catch (error) {
      return { member: undefined, status: 500, reason: `the balancer strategy threw: ${String(error)}` };
    }
    if (member === undefined) return { member: undefined, status: 503, reason: 'no usable member' };
    const changed = sticky !== undefined && member.route !== undefined && member.route !== route;
    return this.#chosen(member, changed ? routeCookie(sticky, member.route!) : undefined);
  }

  /** A failure of `member` (connect error, reset, `failonstatus`, `failontimeout`): in error for its `retry` time. */
  failed(member: Member, detail: string): void {
    member.errors++;
    if (member.flags.ignoreErrors) return;
    member.errorUntil = Date.now() + member.retry;
    this.#report({ balancer: this.name, member: member.name, kind: 'error', detail });
  }

  /** Reports a health-check change of `member`. */
  healthChanged(member: Member, failed: boolean, detail: string): void {
    member.flags.healthFailed = failed;
    const kind = failed ? 'health-failed' : 'health-passed';
    this.#report({ balancer: this.name, member: member.name, kind, detail });
  }

  #chosen(member: Member, cookie: string | undefined): Pick {
    member.begin();
    return { member, cookie };
  }

  #allInError(now: number, open: (member: Member) => boolean): boolean {
    const eligible = this.#members.filter((m) => open(m) && !m.flags.disabled && !m.flags.stopped);
    return eligible.length > 0 && eligible.every((m) => m.errorUntil > now && !m.flags.healthFailed);
  }

  #add(options: BalancerMemberOptions): Member {
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

/** Whether `member` tunnels `token` (Apache: `upgrade=` is read from the chosen worker). */
function accepts(member: Member, token: string | undefined): boolean {
  if (token === undefined) return true;
  const { upgrade } = member.target;
  return upgrade === '*' || upgrade === 'none' || upgrade.includes(token.toLowerCase());
}

function unionOfUpgrades(members: readonly Member[], where: string): Balancer['upgrade'] {
  const each = members.map((member) => member.target.upgrade);
  if (each.includes('*')) return '*';
  if (each.every((upgrade) => upgrade === 'none')) return 'none';
  if (each.includes('none'))
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: upgrade NONE must be on every member or none`);
  return [...new Set(each.flat() as string[])];
}

function resolveMethod(
  method: NonNullable<BalancerOptions['method']>,
  where: string,
): [LbMethod | ((members: readonly Member[], req: IncomingMessage) => Member | undefined), string] {
  if (typeof method === 'string') {
    const found = METHODS[method];
    if (found === undefined)
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: unknown method ${JSON.stringify(method)}`);
    return [found, method];
  }
  if (typeof method === 'function') {
    return [
      (members, req) => {
        const chosen = method(
          members.map((member) => member.view),
          req,
        );
        return members.find((member) => member.view === chosen);
      },
      'custom',
    ];
  }
  const key: HashKey = resolveHashKey(method, where);
  return [
    (members, req) => {
      const value = hashKey(key, req);
      return value === undefined ? (byRequests(members) as Member | undefined) : rendezvous(members, value);
    },
    key.hash === 'address' ? 'hash(address)' : `hash(${key.hash} ${key.name})`,
  ];
}
