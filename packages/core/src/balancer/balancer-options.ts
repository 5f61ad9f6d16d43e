/** Why: one typed place for mod_proxy_balancer's parameters (ProxySet, BalancerMember, mod_proxy_hcheck), with Apache's defaults. */

import type { IncomingMessage } from 'node:http';
import type { TargetOptions } from '../options.ts';

/** BalancerMember `status` flags (Apache letters in brackets). Health-check and error state are not set here. */
export interface MemberStatus {
  /** `D`: accepts no requests. */
  readonly disabled?: boolean;
  /** `S`: administratively stopped. */
  readonly stopped?: boolean;
  /** `I`: errors never make the member unusable. */
  readonly ignoreErrors?: boolean;
  /** `R`: hot spare, stands in one for one for an unusable member of its lbset. */
  readonly spare?: boolean;
  /** `H`: hot standby, used only when no other member or spare is usable. */
  readonly standby?: boolean;
  /** `N`: draining, takes only sticky sessions already routed to it; its open tunnels stay. */
  readonly draining?: boolean;
}

/** Active health check of a member (mod_proxy_hcheck `hc*` parameters). */
export interface HealthCheckOptions {
  /**
   * `'tcp'` connects and closes (Apache `hcmethod=TCP`); `'http'` sends `method` to `path` and reads the answer
   * (`GET`/`HEAD`/`OPTIONS`); `'websocket'` sends a WebSocket handshake to `path` and expects a 101.
   */
  readonly type: 'tcp' | 'http' | 'websocket';
  /** HTTP method of an `'http'` check. Default `'GET'`. */
  readonly method?: 'GET' | 'HEAD' | 'OPTIONS';
  /** Path and query of an `'http'` or `'websocket'` check (Apache `hcuri`). Default `/`. */
  readonly path?: string;
  /** Statuses that pass. Default: 2xx and 3xx for `'http'` (Apache without `hcexpr`), 101 for `'websocket'`. */
  readonly expectStatus?: readonly number[];
  /** The body of an `'http'` check must match this (Apache `hc('body') =~ /.../`). */
  readonly expectBody?: RegExp;
  /** The body of an `'http'` check must not match this (Apache `hc('body') !~ /.../`). */
  readonly rejectBody?: RegExp;
  /** Milliseconds between checks (Apache `hcinterval`, default 30 s). */
  readonly interval?: number;
  /** Milliseconds a check may take before it counts as failed. Default: the member's `connectTimeout`, at most `interval`. */
  readonly timeout?: number;
  /** Consecutive passes that make a failed member usable again (Apache `hcpasses`). Default 1. */
  readonly passes?: number;
  /** Consecutive failures that take a member out (Apache `hcfails`). Default 1. */
  readonly fails?: number;
}

/** One backend of a balancer (Apache `BalancerMember`); target options override the balancer's and the rule's. */
export interface BalancerMemberOptions extends TargetOptions {
  /** `ws://`, `wss://`, `http://` or `https://` URL, with an optional path prefix (no query, no trailing `/`). */
  readonly url: string;
  /** Name for the runtime API and the snapshot. Default: `url`. Unique within the balancer. */
  readonly name?: string;
  /** Relative weight, 1-100 (Apache `loadfactor`). Default 1. */
  readonly weight?: number;
  /** Members of lower sets are used first; a higher set only when a lower one has nobody usable (Apache `lbset`, 0-99). Default 0. */
  readonly lbset?: number;
  /** Sticky-session route id (Apache `route`). */
  readonly route?: string;
  readonly status?: MemberStatus;
  /** Milliseconds a member stays in error after a failure (Apache `retry`, default 60 s); `0` retries at once. */
  readonly retry?: number;
  /** Overrides the balancer's health check for this member; `false` turns it off. */
  readonly healthCheck?: HealthCheckOptions | false;
}

/** What a custom strategy or the snapshot sees of a member. */
export interface MemberView {
  readonly name: string;
  readonly url: string;
  readonly weight: number;
  readonly lbset: number;
  readonly route: string | undefined;
  /** Open tunnels and requests in flight to this member. */
  readonly busy: number;
  /** Times this member was chosen. */
  readonly chosen: number;
  /** Bytes both ways over its finished and open tunnels (plain requests are not counted). */
  readonly bytes: number;
}

/**
 * Picks one of `members` (the usable members of the lowest usable lbset, in declaration order) for `req`, or
 * `undefined` for none (the client then gets 503).
 */
export type BalancerStrategy = (
  members: readonly MemberView[],
  req: IncomingMessage,
) => MemberView | undefined;

/** Consistent hashing (beyond Apache): the same key goes to the same member while the member set is the same. */
export type HashKey =
  | { readonly hash: 'header'; readonly name: string }
  | { readonly hash: 'cookie'; readonly name: string }
  | { readonly hash: 'address' };

/** Sticky sessions (Apache `stickysession`, `stickysessionsep`, the `ROUTEID` cookie recipe). */
export interface StickyOptions {
  /** Cookie whose value names the route, as `anything.route`. */
  readonly cookie?: string;
  /** URL parameter (`?name=x.route` or `;name=x.route`) naming the route; beats the cookie when both are present. */
  readonly param?: string;
  /** Separator before the route in the value (Apache `stickysessionsep`). Default `.`; `''` means the whole value is the route. */
  readonly separator?: string;
  /**
   * Send `Set-Cookie: <cookie>=.<route>; Path=/` on the 101 (or a plain response, such as long-polling) when the route
   * was chosen or changed (Apache's
   * `Header add Set-Cookie ... env=BALANCER_ROUTE_CHANGED` recipe). `true` or extra cookie attributes (`'Path=/ws; Secure'`).
   */
  readonly setCookie?: boolean | string;
  /** A session whose member is unusable gets 503 instead of another member (Apache `nofailover=On`). Default `false`. */
  readonly noFailover?: boolean;
}

/** One `balancer://name` (Apache `<Proxy "balancer://name">` with its `BalancerMember`s and `ProxySet`). */
export interface BalancerOptions {
  readonly members: readonly BalancerMemberOptions[];
  /** Apache `lbmethod`, a strategy function, or a consistent-hash key. Default `'byrequests'`. */
  readonly method?: 'byrequests' | 'bytraffic' | 'bybusyness' | BalancerStrategy | HashKey;
  /** Sticky sessions; a string is Apache's `stickysession` value (`COOKIE|param`, or one name for both). */
  readonly sticky?: string | StickyOptions;
  /** Statuses of a backend's answer that put the member in error and try the next one (Apache `failonstatus`). */
  readonly failOnStatus?: readonly number[];
  /** A backend that times out answering is put in error and the next member is tried (Apache `failontimeout`). Default `false`. */
  readonly failOnTimeout?: boolean;
  /** Members tried after the first fails, before anything is sent to the client (Apache `maxattempts`). Default: members - 1, at least 1. */
  readonly maxAttempts?: number;
  /** When every member is in error, try them anyway instead of answering 503 (Apache `forcerecovery`). Default `true`. */
  readonly forceRecovery?: boolean;
  /** Health check for every member (overridable per member). Default: none. */
  readonly healthCheck?: HealthCheckOptions;
}

/** A runtime change to a member; omitted fields stay. */
export interface MemberChange {
  readonly weight?: number;
  readonly lbset?: number;
  readonly route?: string;
  readonly status?: MemberStatus;
}
