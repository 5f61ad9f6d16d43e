/** Why: one object owns a rule table and the tunnels it opened, so servers and adapters hand it upgrades and it alone drains them. */

import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Balancer, BalancerControl } from './balancer/balancer.ts';
import { HealthMonitor } from './balancer/health-monitor.ts';
import { createBalancers } from './balancer/registry.ts';
import { attachUpgradeOwner, type UpgradeHandler } from './dispatcher.ts';
import { type EngineHost, failed, refuseRequest, refuseUpgrade } from './engine-host.ts';
import { configError, type TunnelError } from './errors.ts';
import { publish, requestInfo, type TunnelOutcome, type WstunnelEvents } from './events.ts';
import type { PlainHooks } from './http-forward.ts';
import type { WstunnelOptions } from './options.ts';
import { afterPendingResponse } from './pipelining.ts';
import { type HttpDecision, PlainProxy } from './plain-proxy.ts';
import { respondOnSocket } from './plain-request.ts';
import { type RouteDecision, RuleTable } from './rules.ts';
import type { Target } from './target.ts';
import { type TunnelDecision, TunnelEngine } from './tunnel-engine.ts';

export type { HttpDecision } from './plain-proxy.ts';
export type { TunnelDecision } from './tunnel-engine.ts';

/** Default grace period of {@link Wstunnel.close} before open tunnels are ended. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

/** Options of {@link Wstunnel.close}. */
export interface CloseOptions {
  /** Milliseconds open tunnels get to finish on their own before they are ended. Default 5 000. */
  readonly timeout?: number;
}

/** Tunnels HTTP upgrades to backends by an ordered rule table; see {@link createWstunnel}. */
export class Wstunnel extends EventEmitter<WstunnelEvents> implements AsyncDisposable {
  /** The rules, in matching order. */
  readonly rules: RuleTable;
  /** The balancers of `balancer://` targets, by lower-case name: their runtime API and snapshots. */
  readonly balancers: ReadonlyMap<string, BalancerControl>;
  readonly #balancers: ReadonlyMap<string, Balancer>;
  readonly #health: HealthMonitor;
  readonly #tunnels: TunnelEngine;
  readonly #plain: PlainProxy;
  readonly #host: EngineHost;
  readonly #perTarget = new Map<Target, number>();
  /** The dispatcher asks twice per upgrade (before Node commits to it, then with the socket): route once. */
  readonly #decisions = new WeakMap<
    IncomingMessage,
    { readonly url: string; readonly decision: RouteDecision }
  >();
  readonly #detach = new Set<() => void>();
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(options: WstunnelOptions) {
    super();
    if (typeof options !== 'object' || options === null)
      configError('ERR_WSTUNNEL_INVALID_OPTION', 'options must be an object');
    const { rules, closeFrames, balancers, ...defaults } = options;
    const slots = this.#perTarget;
    const owner = this;
    this.#host = {
      get closing() {
        return owner.closing;
      },
      acquire(target) {
        const used = slots.get(target) ?? 0;
        if (used >= target.max) return false;
        slots.set(target, used + 1);
        return true;
      },
      take(target) {
        slots.set(target, (slots.get(target) ?? 0) + 1);
      },
      release: (target) => this.#release(target),
      report: (event, ...args) => {
        (this.emit as (name: typeof event, ...values: typeof args) => boolean)(event, ...args);
        publish(event, args);
      },
    };
    this.#balancers = createBalancers(balancers, defaults, (event) => this.#host.report('balancer', event));
    this.balancers = this.#balancers;
    this.rules = new RuleTable(rules, defaults, this.#balancers);
    this.#health = new HealthMonitor(this.#balancers.values());
    this.#tunnels = new TunnelEngine(this.#host, closeFrames ?? false);
    this.#plain = new PlainProxy(this.#host);
  }

  /**
   * The balancers with their engine-side API, for rule tables an adapter compiles.
   * @internal
   */
  get balancerRegistry(): ReadonlyMap<string, Balancer> {
    return this.#balancers;
  }

  /** Handshakes in progress (including refusals still being relayed), open tunnels and plain requests in flight. */
  get size(): number {
    return this.#tunnels.size + this.#plain.inFlight;
  }

  /** Open tunnels (after the 101). */
  get openTunnels(): number {
    return this.#tunnels.openTunnels;
  }

  /** Whether {@link Wstunnel.close} was called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Routes one upgrade (what a node:http `'upgrade'` listener receives) by the rule table: tunnels it, proxies it as
   * plain HTTP when its rule does not tunnel that protocol, or answers 400/404. `path` is the request-target to route
   * (default `req.url`; adapters pass a mount-relative one). From this call on the socket belongs to wstunnel. Never
   * rejects: failures are answered on the socket and reported in the outcome.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    path: string = req.url ?? '',
  ): Promise<TunnelOutcome> {
    this.#health.start();
    const decision = this.rules.route(req, path);
    if (decision.kind === 'tunnel') return this.tunnel(req, socket, head, decision);
    if (decision.kind === 'reject')
      return refuseUpgrade(
        this.#host,
        req,
        socket,
        'ERR_WSTUNNEL_BAD_REQUEST',
        decision.status,
        decision.reason,
      );
    if (decision.kind === 'pass')
      return refuseUpgrade(
        this.#host,
        req,
        socket,
        'ERR_WSTUNNEL_NO_ROUTE',
        404,
        'no route for this upgrade',
      );
    const backend = `${decision.target.httpOrigin}${decision.backendPath}`;
    // Like a tunnel, a plain answer must not overtake the response to a request pipelined before it.
    return afterPendingResponse(socket, async () => {
      respondOnSocket(req, socket, (res) => this.proxyHttp(req, res, decision));
      return { kind: 'proxied', info: requestInfo(req, backend, '-') };
    });
  }

  /** Tunnels an upgrade whose rule was already matched (adapters and dispatchers call this). */
  tunnel(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    decision: TunnelDecision,
  ): Promise<TunnelOutcome> {
    this.#health.start();
    return afterPendingResponse(socket, () => this.#tunnels.start(req, socket, head, decision));
  }

  /**
   * Routes a plain HTTP request by the rule table and proxies it when a rule takes it (through
   * http-proxy-middleware), or answers 400 for a path that cannot be routed. Returns `false` when no rule applies
   * (or an exclusion matched), so the caller can continue (next middleware, 404). `path` as for `handleUpgrade`.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, path: string = req.url ?? ''): boolean {
    // The dispatcher decided on the url it saw; a mount-relative path or a rewritten req.url needs its own decision.
    const cached = this.#decisions.get(req);
    const decision = cached?.url === path ? cached.decision : this.rules.route(req, path);
    if (decision.kind === 'pass') return false;
    if (decision.kind === 'reject')
      refuseRequest(this.#host, req, res, 'ERR_WSTUNNEL_BAD_REQUEST', decision.status, decision.reason);
    // A 'tunnel' decision reaches here only when the server did not hand the upgrade over: RFC 9110 7.8 lets it be served.
    else this.proxyHttp(req, res, { ...decision, kind: 'http' });
    return true;
  }

  /** Reports a request refused outside the engine (an adapter let its framework answer it) as a `failed` event. */
  reportFailure(req: IncomingMessage, error: TunnelError): void {
    failed(this.#host, error, requestInfo(req, '-', req.headers.upgrade ?? '-'));
  }

  /** Proxies a plain request whose rule was already matched (adapters call this); 503 beyond the target's `max`. */
  proxyHttp(req: IncomingMessage, res: ServerResponse, decision: HttpDecision, hooks?: PlainHooks): void {
    this.#health.start();
    this.#plain.proxy(req, res, decision, hooks);
  }

  /**
   * Takes the upgrades of `server` that match a rule, through the server's shared dispatcher. Upgrades no rule
   * matches are left to the server's other `'upgrade'` listeners, or served as plain HTTP requests when there are
   * none. Returns a function that detaches; {@link Wstunnel.close} detaches too.
   */
  attach(server: Server): () => void {
    this.#health.start();
    const detach = attachUpgradeOwner(server, { route: (req) => this.#route(req) });
    this.#detach.add(detach);
    return () => {
      this.#detach.delete(detach);
      detach();
    };
  }

  /**
   * Drains: new upgrades get 503; open tunnels get `timeout` ms to finish, then are ended (with 1001 close
   * frames when `closeFrames` is on), pending handshakes are answered 503 and refusals still being relayed are cut.
   * Resolves when everything is closed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#drain(options.timeout ?? DEFAULT_DRAIN_TIMEOUT_MS);
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #drain(timeout: number): Promise<void> {
    if (this.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      const deadline = setTimeout(() => {
        this.#tunnels.abort();
        this.#plain.abort();
      }, timeout);
      await drained;
      clearTimeout(deadline);
    }
    for (const detach of this.#detach) detach();
    this.#detach.clear();
    this.#health.stop();
    this.#plain.close();
  }

  #route(req: IncomingMessage): UpgradeHandler | undefined {
    const url = req.url ?? '';
    let decision = this.#decisions.get(req)?.decision;
    if (decision === undefined) {
      decision = this.rules.route(req, url);
      this.#decisions.set(req, { url, decision });
    }
    // Upgrades a rule proxies as plain HTTP stay ordinary requests; the server's request handler serves them.
    if (decision.kind === 'pass' || decision.kind === 'http') return undefined;
    if (decision.kind === 'reject') {
      const { status, reason } = decision;
      return (request, socket) =>
        void refuseUpgrade(this.#host, request, socket, 'ERR_WSTUNNEL_BAD_REQUEST', status, reason);
    }
    const tunnel = decision;
    return (request, socket, head) => void this.tunnel(request, socket, head, tunnel);
  }

  #release(target: Target): void {
    const used = (this.#perTarget.get(target) ?? 1) - 1;
    // Deleted at zero: a target function makes a Target per URL, and the map must not keep them all.
    if (used > 0) this.#perTarget.set(target, used);
    else this.#perTarget.delete(target);
    if (this.size === 0) this.#drained?.();
  }
}

/** Creates a {@link Wstunnel}; throws {@link WstunnelConfigError} when the options or rules are invalid. */
export function createWstunnel(options: WstunnelOptions): Wstunnel {
  return new Wstunnel(options);
}
