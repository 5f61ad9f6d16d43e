/** Why: a BalancerMember is a backend (a Target) plus the load-balancing state Apache keeps per worker; both live here. */

import { configError, WstunnelConfigError } from '../errors.ts';
import type { TargetOptions } from '../options.ts';
import { resolveTarget, type Target } from '../target.ts';
import type {
  BalancerMemberOptions,
  HealthCheckOptions,
  MemberChange,
  MemberStatus,
  MemberView,
} from './balancer-options.ts';
import type { MemberFlags, MemberState } from './candidates.ts';
import type { ResolvedHealthCheck } from './health-check.ts';
import type { MemberLoad } from './lb-methods.ts';
import { checkKeys } from './option-keys.ts';

/** How long the live byte count of open tunnels is reused (bytraffic, snapshots). */
const LIVE_BYTES_TTL_MS = 100;
/** Up to this many open tunnels, the live byte count is exact. */
const LIVE_BYTES_EXACT_UP_TO = 64;
/** Apache `retry` default. */
const DEFAULT_RETRY_MS = 60_000;
/** Route ids travel in cookies and URL parameters (Apache `route=`): keep them to token characters. */
const ROUTE = /^[A-Za-z0-9!#$%&'*+\-^_`|~.]{1,64}$/;
const STATUS_KEYS = ['disabled', 'stopped', 'ignoreErrors', 'spare', 'standby', 'draining'] as const;

/** The outcome of the latest health check of a member. */
export interface HealthCheckResult {
  /** `Date.now()` when the check ended. */
  readonly at: number;
  readonly ok: boolean;
  /** Why it failed (`ECONNREFUSED`, `status 500`, `body did not match`), or `''`. */
  readonly detail: string;
}

/** One member: its target, options and live counters. */
export class Member implements MemberState, MemberLoad {
  readonly name: string;
  readonly url: string;
  readonly target: Target;
  readonly retry: number;
  readonly healthCheck: HealthCheckOptions | false | undefined;
  /** The member's health check after validation (its own, or the balancer's), if any. */
  check: ResolvedHealthCheck | undefined;
  weight: number;
  lbset: number;
  route: string | undefined;
  readonly flags: MemberFlags;
  errorUntil = 0;
  credit = 0;
  busy = 0;
  chosen = 0;
  /** Failures that put the member in error, since it was added. */
  errors = 0;
  lastHealthCheck: HealthCheckResult | undefined;
  /** Consecutive health check results of the same kind, for `passes`/`fails`. */
  healthStreak = 0;
  /** Whether the member was removed at runtime; its open tunnels finish, nothing new reaches it. */
  removed = false;
  readonly view: MemberView;
  #bytesDone = 0;
  #live = 0;
  #liveAt = Number.NEGATIVE_INFINITY;
  readonly #open = new Set<() => number>();

  constructor(options: BalancerMemberOptions, defaults: TargetOptions, where: string) {
    if (typeof options !== 'object' || options === null)
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: a member must be an object`);
    checkKeys(options, 'member', where);
    const { url, name, weight, lbset, route, status, retry, healthCheck, ...own } = options;
    if (typeof url !== 'string')
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: a member needs a url string`);
    this.url = url;
    this.name = name ?? url;
    if (typeof this.name !== 'string' || this.name === '')
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: member name must be a non-empty string`);
    this.target = asBalancerError(() =>
      resolveTarget(url, { ...defaults, ...own }, `${where} (${this.name})`),
    );
    // Apache: "trailing slashes should be removed from BalancerMember URLs"; the request path is appended as is.
    if (url.includes('?') || this.target.basePath.endsWith('/'))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: member url ${JSON.stringify(url)} must be scheme://host[:port][/path] with no query and no trailing "/" (the request path is appended to it)`,
      );
    this.retry = retry === undefined ? DEFAULT_RETRY_MS : checkRetry(retry, where);
    this.healthCheck = healthCheck;
    this.weight = 1;
    this.lbset = 0;
    this.flags = {};
    this.apply({ weight: weight ?? 1, lbset: lbset ?? 0, status: status ?? {} }, where);
    if (route !== undefined) this.apply({ route }, where);
    this.view = memberView(this);
  }

  /** Bytes both ways over finished tunnels and requests, plus what open tunnels have moved so far. */
  get bytes(): number {
    // Summing thousands of open tunnels on each pick would cost O(open tunnels) per handshake: past a few, the live
    // part is reread at most every LIVE_BYTES_TTL_MS (a tunnel that just ended may count twice, one just opened not yet).
    const now = Date.now();
    if (this.#open.size <= LIVE_BYTES_EXACT_UP_TO || now - this.#liveAt >= LIVE_BYTES_TTL_MS) {
      let live = 0;
      for (const moved of this.#open) live += moved();
      this.#live = live;
      this.#liveAt = now;
    }
    return this.#bytesDone + this.#live;
  }

  /** Counts a new session (tunnel handshake or plain request) as given to this member. */
  begin(): void {
    this.busy++;
    this.chosen++;
  }

  /** Counts live bytes of an open tunnel until the returned function is called with its final total. */
  track(moved: () => number): (total: number) => void {
    this.#open.add(moved);
    return (total) => {
      this.#open.delete(moved);
      this.end(total);
    };
  }

  /** A session of this member is over, having moved `bytes`. */
  end(bytes: number): void {
    this.busy--;
    this.#bytesDone += bytes;
  }

  /** Applies a runtime or configured change; throws WstunnelConfigError (nothing changed) when a value is invalid. */
  apply(change: MemberChange, where: string): void {
    if (typeof change !== 'object' || change === null)
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: a member change must be an object`);
    const { weight, lbset, route, status } = change;
    if (weight !== undefined && (typeof weight !== 'number' || !(weight >= 1 && weight <= 100)))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: weight (loadfactor) must be a number from 1 to 100`,
      );
    if (lbset !== undefined && (!Number.isInteger(lbset) || lbset < 0 || lbset > 99))
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: lbset must be a whole number from 0 to 99`);
    if (route !== undefined && (typeof route !== 'string' || !ROUTE.test(route)))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: route must be 1-64 token characters (it travels in cookies and URLs)`,
      );
    if (status !== undefined) checkStatus(status, where);
    if (weight !== undefined) this.weight = weight;
    if (lbset !== undefined) this.lbset = lbset;
    if (route !== undefined) this.route = route;
    if (status !== undefined)
      for (const key of STATUS_KEYS) if (key in status) this.flags[key] = status[key] === true;
  }

  /** Apache's status letters for the snapshot (`Ok` when none applies). */
  statusLetters(now: number): string {
    const { flags } = this;
    const letters = [
      flags.disabled ? 'D' : '',
      flags.stopped ? 'S' : '',
      flags.ignoreErrors ? 'I' : '',
      flags.spare ? 'R' : '',
      flags.standby ? 'H' : '',
      this.errorUntil > now ? 'E' : '',
      flags.draining ? 'N' : '',
      flags.healthFailed ? 'C' : '',
    ].join('');
    return letters === '' ? 'Ok' : letters;
  }
}

/** A member's target mistakes are the balancer's (`ERR_WSTUNNEL_INVALID_BALANCER`), whatever resolveTarget calls them. */
function asBalancerError<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (error instanceof WstunnelConfigError) configError('ERR_WSTUNNEL_INVALID_BALANCER', error.message);
    throw error;
  }
}

function checkStatus(status: MemberStatus, where: string): void {
  if (typeof status !== 'object' || status === null)
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: status must be an object of flags`);
  for (const [key, value] of Object.entries(status)) {
    if (
      !(STATUS_KEYS as readonly string[]).includes(key) ||
      (value !== undefined && typeof value !== 'boolean')
    )
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: status.${key} is not a member flag (${STATUS_KEYS.join(', ')}: booleans)`,
      );
  }
}

function checkRetry(retry: number, where: string): number {
  if (!Number.isInteger(retry) || retry < 0 || retry > 2_147_483_647)
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: retry must be a whole number of milliseconds`);
  return retry;
}

/** A read-only view for strategies and the snapshot: getters over the member, made once. */
function memberView(member: Member): MemberView {
  return Object.freeze({
    name: member.name,
    url: member.url,
    get weight() {
      return member.weight;
    },
    get lbset() {
      return member.lbset;
    },
    get route() {
      return member.route;
    },
    get busy() {
      return member.busy;
    },
    get chosen() {
      return member.chosen;
    },
    get bytes() {
      return member.bytes;
    },
  });
}
