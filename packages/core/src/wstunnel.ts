/** Why: one object owns a rule table and the tunnels it opened, so servers and adapters hand it upgrades and it alone drains them. */

import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { attachUpgradeOwner, type UpgradeHandler } from './dispatcher.ts';
import { configError, TunnelError, type TunnelErrorCode } from './errors.ts';
import {
  publish,
  requestInfo,
  type TunnelInfo,
  type TunnelOutcome,
  type TunnelStats,
  type WstunnelEvents,
} from './events.ts';
import { buildBackendRequest } from './forward-headers.ts';
import { Handshake, type HandshakeResult } from './handshake.ts';
import { HttpForwarder } from './http-forward.ts';
import { writeErrorResponse, writeErrorToResponse } from './http-responses.ts';
import type { WstunnelOptions } from './options.ts';
import { afterPendingResponse } from './pipelining.ts';
import { respondOnSocket } from './plain-request.ts';
import { type RouteDecision, RuleTable } from './rules.ts';
import type { Splice } from './splice.ts';
import { switchProtocols } from './switch-protocols.ts';
import type { Target } from './target.ts';

/** A decision to tunnel, as {@link RuleTable.route} returns it. */
export type TunnelDecision = Extract<RouteDecision, { kind: 'tunnel' }>;
/** A decision to proxy as plain HTTP, as {@link RuleTable.route} returns it. */
export type HttpDecision = Extract<RouteDecision, { kind: 'http' }>;

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
  readonly #closeFrames: boolean;
  readonly #handshakes = new Set<Handshake>();
  readonly #tunnels = new Set<Splice>();
  readonly #perTarget = new Map<Target, number>();
  readonly #forwarders = new Map<Target, HttpForwarder>();
  /** The dispatcher asks twice per upgrade (before Node commits to it, then with the socket): route once. */
  readonly #decisions = new WeakMap<IncomingMessage, RouteDecision>();
  readonly #detach = new Set<() => void>();
  #requests = 0;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(options: WstunnelOptions) {
    super();
    if (typeof options !== 'object' || options === null)
      configError('ERR_WSTUNNEL_INVALID_OPTION', 'options must be an object');
    const { rules, closeFrames, ...defaults } = options;
    this.rules = new RuleTable(rules, defaults);
    this.#closeFrames = closeFrames ?? false;
  }

  /** Handshakes in progress (including refusals still being relayed), open tunnels and plain requests in flight. */
  get size(): number {
    return this.#handshakes.size + this.#tunnels.size + this.#requests;
  }

  /** Open tunnels (after the 101). */
  get openTunnels(): number {
    return this.#tunnels.size;
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
    const decision = this.rules.route(req, path);
    if (decision.kind === 'tunnel') return this.tunnel(req, socket, head, decision);
    if (decision.kind === 'reject')
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', decision.status, decision.reason);
    if (decision.kind === 'pass')
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_NO_ROUTE', 404, 'no route for this upgrade');
    respondOnSocket(req, socket, (res) => this.proxyHttp(req, res, decision));
    const backend = `${decision.target.httpOrigin}${decision.backendPath}`;
    return Promise.resolve({ kind: 'proxied', info: requestInfo(req, backend, '-') });
  }

  /** Tunnels an upgrade whose rule was already matched (adapters and dispatchers call this). */
  tunnel(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    decision: TunnelDecision,
  ): Promise<TunnelOutcome> {
    return afterPendingResponse(socket, () => this.#tunnel(req, socket, head, decision));
  }

  #tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, match: TunnelDecision): Promise<TunnelOutcome> {
    if (socket.destroyed || !socket.readable || !socket.writable) {
      // A socket that already closed would never emit 'close' again: dialling for it would leak the backend side.
      socket.destroy();
      return Promise.resolve(
        this.#failed(new TunnelError('ERR_WSTUNNEL_CLIENT_GONE', undefined, 'the client left'), undefined),
      );
    }
    if (this.#closing !== undefined)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down');
    const { target, token } = match;
    const active = this.#perTarget.get(target) ?? 0;
    if (active >= target.max)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_OVERLOADED', 503, 'too many tunnels to this backend');
    const info = requestInfo(
      req,
      `${target.url.slice(0, target.url.indexOf(':'))}://${target.hostHeader}${match.backendPath}`,
      token,
    );
    const encrypted = (req.socket as Partial<{ encrypted: boolean }>).encrypted === true;
    const requestHead = buildBackendRequest(req, match.backendPath, target, token, {
      remoteAddress: info.remoteAddress,
      encrypted,
    });
    if (requestHead === undefined)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', 400, 'invalid header value');
    const clientReadBase = ((socket as Partial<Socket>).bytesRead ?? 0) - head.length;
    this.#perTarget.set(target, active + 1);
    return new Promise((resolve) => {
      let handshake: Handshake | undefined;
      const callbacks = {
        decided: (result: HandshakeResult) =>
          resolve(this.#decided(result, socket, target, info, clientReadBase)),
        done: () => {
          if (handshake !== undefined) this.#handshakes.delete(handshake);
          this.#release(target);
        },
      };
      try {
        handshake = new Handshake({ client: socket, head, requestHead, target, token }, callbacks);
        this.#handshakes.add(handshake);
      } catch (error) {
        // Dialling threw synchronously (an option Node rejects only at connect time): answer, never crash.
        this.#release(target);
        writeErrorResponse(socket, 502, 'cannot reach the backend');
        resolve(
          this.#failed(new TunnelError('ERR_WSTUNNEL_CONNECT', 502, 'cannot reach the backend', error), info),
        );
      }
    });
  }

  /**
   * Routes a plain HTTP request by the rule table and proxies it when a rule takes it (through
   * http-proxy-middleware), or answers 400 for a path that cannot be routed. Returns `false` when no rule applies
   * (or an exclusion matched), so the caller can continue (next middleware, 404). `path` as for `handleUpgrade`.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, path: string = req.url ?? ''): boolean {
    // The dispatcher's decision was made on req.url; an adapter's mount-relative path needs its own.
    const decision = (path === req.url ? this.#decisions.get(req) : undefined) ?? this.rules.route(req, path);
    if (decision.kind === 'pass') return false;
    if (decision.kind === 'reject')
      this.#refuseRequest(req, res, 'ERR_WSTUNNEL_BAD_REQUEST', decision.status, decision.reason);
    // A 'tunnel' decision reaches here only when the server did not hand the upgrade over: RFC 9110 7.8 lets it be served.
    else this.proxyHttp(req, res, { ...decision, kind: 'http' });
    return true;
  }

  /** Proxies a plain request whose rule was already matched (adapters call this); 503 beyond the target's `max`. */
  proxyHttp(req: IncomingMessage, res: ServerResponse, decision: HttpDecision): void {
    const { target } = decision;
    if (this.#closing !== undefined)
      return this.#refuseRequest(req, res, 'ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down');
    const active = this.#perTarget.get(target) ?? 0;
    if (active >= target.max)
      return this.#refuseRequest(
        req,
        res,
        'ERR_WSTUNNEL_OVERLOADED',
        503,
        'too many connections to this backend',
      );
    let forwarder = this.#forwarders.get(target);
    if (forwarder === undefined) {
      forwarder = new HttpForwarder(target);
      this.#forwarders.set(target, forwarder);
    }
    const info = requestInfo(req, `${target.httpOrigin}${decision.backendPath}`, '-');
    const started = forwarder.forward(req, res, decision.backendPath, (result) => {
      this.#requests--;
      this.#release(target);
      this.#report('proxied', info, result);
    });
    // A client that left before its request got here takes no slot: nothing would ever give it back.
    if (!started) return;
    this.#perTarget.set(target, active + 1);
    this.#requests++;
  }

  /**
   * Takes the upgrades of `server` that match a rule, through the server's shared dispatcher. Upgrades no rule
   * matches are left to the server's other `'upgrade'` listeners, or served as plain HTTP requests when there are
   * none. Returns a function that detaches; {@link Wstunnel.close} detaches too.
   */
  attach(server: Server): () => void {
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
        for (const handshake of this.#handshakes) handshake.abort();
        for (const tunnel of this.#tunnels) tunnel.shutdown();
        for (const forwarder of this.#forwarders.values()) forwarder.abort();
      }, timeout);
      await drained;
      clearTimeout(deadline);
    }
    for (const detach of this.#detach) detach();
    this.#detach.clear();
    for (const forwarder of this.#forwarders.values()) forwarder.close();
  }

  #route(req: IncomingMessage): UpgradeHandler | undefined {
    let decision = this.#decisions.get(req);
    if (decision === undefined) {
      decision = this.rules.route(req);
      this.#decisions.set(req, decision);
    }
    // Upgrades a rule proxies as plain HTTP stay ordinary requests; the server's request handler serves them.
    if (decision.kind === 'pass' || decision.kind === 'http') return undefined;
    if (decision.kind === 'reject') {
      const { status, reason } = decision;
      return (request, socket) =>
        void this.#refuse(request, socket, 'ERR_WSTUNNEL_BAD_REQUEST', status, reason);
    }
    const tunnel = decision;
    return (request, socket, head) => void this.tunnel(request, socket, head, tunnel);
  }

  #decided(
    result: HandshakeResult,
    socket: Duplex,
    target: Target,
    info: TunnelInfo,
    readBase: number,
  ): TunnelOutcome {
    if (result.kind === 'failed') return this.#failed(result.error, info);
    if (result.kind === 'refused') {
      this.#report('refused', info, result.status);
      return { kind: 'refused', info, status: result.status };
    }
    let reportClosed!: (stats: TunnelStats) => void;
    const closed = new Promise<TunnelStats>((resolve) => {
      reportClosed = resolve;
    });
    // The handshake's `done` releases its slot right after this returns; the tunnel takes one of its own.
    this.#perTarget.set(target, (this.#perTarget.get(target) ?? 0) + 1);
    const tunnel = switchProtocols(result, {
      client: socket,
      target,
      info,
      closeFrames: this.#closeFrames,
      clientReadBase: readBase,
      onClosed: (stats) => {
        this.#tunnels.delete(tunnel);
        this.#release(target);
        this.#report('close', info, stats);
        reportClosed(stats);
      },
    });
    this.#tunnels.add(tunnel);
    this.#report('open', info);
    return { kind: 'open', info, closed };
  }

  #release(target: Target): void {
    this.#perTarget.set(target, (this.#perTarget.get(target) ?? 1) - 1);
    if (this.size === 0) this.#drained?.();
  }

  #refuse(
    req: IncomingMessage,
    socket: Duplex,
    code: TunnelErrorCode,
    status: number,
    message: string,
  ): Promise<TunnelOutcome> {
    writeErrorResponse(socket, status, message);
    return Promise.resolve(
      this.#failed(new TunnelError(code, status, message), requestInfo(req, '-', req.headers.upgrade ?? '-')),
    );
  }

  #refuseRequest(
    req: IncomingMessage,
    res: ServerResponse,
    code: TunnelErrorCode,
    status: number,
    message: string,
  ): void {
    writeErrorToResponse(res, status, message);
    this.#failed(new TunnelError(code, status, message), requestInfo(req, '-', '-'));
  }

  #failed(error: TunnelError, info: TunnelInfo | undefined): TunnelOutcome {
    this.#report('failed', error, info);
    return { kind: 'failed', error };
  }

  /** Emits the event and publishes it on its diagnostics channel. */
  #report<E extends keyof WstunnelEvents>(event: E, ...args: WstunnelEvents[E]): void {
    (this.emit as (name: E, ...values: WstunnelEvents[E]) => boolean)(event, ...args);
    publish(event, args);
  }
}

/** Creates a {@link Wstunnel}; throws {@link WstunnelConfigError} when the options or rules are invalid. */
export function createWstunnel(options: WstunnelOptions): Wstunnel {
  return new Wstunnel(options);
}
