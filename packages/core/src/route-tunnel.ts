/**
 * Why: once a framework route has reached the tunnel, every adapter does the same thing: map the mount-relative path
 * and the route's captures to a backend, take the socket the upgrade bridge kept, or proxy plain HTTP while
 * letting the framework answer the errors. It lives here once, so an adapter only translates its framework.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { configError, TunnelError } from './errors.ts';
import type { TunnelOutcome } from './events.ts';
import type { Rule, WstunnelOptions } from './options.ts';
import { routeHeaders } from './route-headers.ts';
import {
  compileRouteTarget,
  type RouteTargetTable,
  routeWholePath,
  type TargetCache,
  targetFromFunction,
} from './route-target.ts';
import type { RouteDecision, RuleTable } from './rules.ts';
import {
  bridgedUpgrade,
  bridgesUpgrades,
  keepBridgedResponse,
  takeBridgedUpgrade,
} from './upgrade-bridge.ts';
import { Wstunnel } from './wstunnel.ts';

/** The backend of a route: a URL, or a function of the request as the framework sees it (params, session, user). */
export type RouteTarget<Context> = string | URL | ((context: Context) => string | URL);

/**
 * Fields to set on the backend request, from the request as the framework sees it; `undefined` removes a field. Not
 * allowed: hop-by-hop fields, `Host`, `Content-Length` and `X-Forwarded-*` (see `preserveHost` and `xForwarded`).
 */
export type RouteHeaders<Context> = (
  context: Context,
) => Readonly<Record<string, string | undefined>> | undefined;

/** Options of a framework route's tunnel; target options apply to every backend it reaches. */
export interface RouteTunnelOptions<Context> extends Omit<WstunnelOptions, 'rules'> {
  /**
   * Where the route's requests go. Under a mount a URL is a prefix: the mount-relative path is appended to it
   * (`'ws://echo/'` under `/ws2/` sends `/ws2/chat` to `ws://echo/chat`); in a string route, which matched the whole
   * path, it is used as written (see {@link RouteCall.matched}). `$1`-`$9` take the route's parameters in order (`$0`
   * the whole mount-relative path), percent-encoded for where they land. Exclusive with `rules`.
   */
  readonly target?: RouteTarget<Context>;
  /** Ordered rules matched against the mount-relative path, as for the gateway. Exclusive with `target`. */
  readonly rules?: readonly Rule[];
  readonly headers?: RouteHeaders<Context>;
}

/** One request that reached the route: what the adapter knows of it. */
export interface RouteCall<Context> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request-target relative to the route's mount point (Express `req.url`, Koa `ctx.url` after koa-mount). */
  readonly path: string;
  /** The route's parameters, in order: they stand for `$1`-`$9`. */
  readonly captures?: readonly (string | undefined)[];
  /**
   * How the framework matched: `undefined` for a mount or plain middleware (the target is a prefix for `path`),
   * `'path'` for a string route that matched the whole path (Apache `<Location>`: the target URL as written), or
   * `'regex'` for a regex route (Apache `ProxyPassMatch`: `$N`, or the whole path appended).
   */
  readonly matched?: 'path' | 'regex' | undefined;
  /** What target and header functions receive. */
  readonly context: Context;
  /** Called just before wstunnel answers on `res` or takes the socket, so the framework stops answering itself. */
  readonly respond?: () => void;
  /** Called with the handshake's outcome, for the framework's logging. */
  readonly outcome?: (outcome: TunnelOutcome) => void;
}

/** What a route decision depends on: a {@link RouteCall} without the hooks. */
export type RouteInput<Context> = Pick<
  RouteCall<Context>,
  'req' | 'path' | 'captures' | 'context' | 'matched'
>;

/**
 * Settles once the request is in wstunnel's hands (`'handled'`) or not for this route (`'pass'`: call the next
 * middleware). Rejects with a {@link TunnelError} (`status` set) when the framework's error handling should answer.
 */
export type RouteResult = Promise<'pass' | 'handled'>;

/** The tunnel behind one framework route or middleware. */
export class RouteTunnel<Context> {
  /** The engine: its events, `size`, `openTunnels` and `close()` are the route's. */
  readonly engine: Wstunnel;
  /**
   * Whether a plain (non-upgrade) request can ever be proxied by this route. `false` when every target is a `ws://`
   * or `wss://` one with `fallbackToHttp: false`: a framework can then leave plain requests to its other routes.
   */
  readonly servesPlainRequests: boolean;
  /** The route's target, compiled (per URL a target function returns), or `undefined` with `rules`. */
  readonly #target: ((context: Context) => RouteTargetTable) | undefined;
  readonly #headers: RouteHeaders<Context> | undefined;
  /** The rules when they do not depend on the request, so upgrades can be claimed by them before any routing. */
  readonly #rules: RuleTable | undefined;

  constructor(options: RouteTunnelOptions<Context>, adapter: string) {
    if (typeof options !== 'object' || options === null)
      configError('ERR_WSTUNNEL_INVALID_OPTION', `${adapter}: options must be an object`);
    const { target, rules, headers, ...engineOptions } = options;
    if ((target === undefined) === (rules === undefined))
      configError('ERR_WSTUNNEL_INVALID_OPTION', `${adapter}: give either a target or rules`);
    if (headers !== undefined && typeof headers !== 'function')
      configError('ERR_WSTUNNEL_INVALID_OPTION', `${adapter}: headers must be a function of the request`);
    this.engine = new Wstunnel({ ...engineOptions, rules: rules ?? [] });
    const { balancers: _balancers, closeFrames: _closeFrames, ...defaults } = engineOptions;
    this.#headers = headers;
    if (rules !== undefined) {
      this.#rules = this.engine.rules;
      this.servesPlainRequests = servesPlain(this.#rules);
    } else if (typeof target === 'function') {
      const cache: TargetCache = new Map();
      this.#target = (context) =>
        compileRouteTarget(
          targetFromFunction(target, context),
          defaults,
          cache,
          this.engine.balancerRegistry,
        );
      this.servesPlainRequests = true;
    } else {
      const compiled = compileRouteTarget(String(target), defaults, undefined, this.engine.balancerRegistry);
      this.#target = () => compiled;
      this.servesPlainRequests = servesPlain(compiled.table);
    }
  }

  /**
   * Whether an upgrade to the mount-relative `path` is one this route would tunnel (or refuse as malformed), as far
   * as can be told before the framework routes it: `rules` are asked; a target takes every path.
   */
  wants(req: IncomingMessage, path: string): boolean {
    const kind = this.#rules?.route(req, path).kind;
    return kind === undefined || kind === 'tunnel' || kind === 'reject';
  }

  /**
   * The decision for one request, headers included, without acting on it. Throws a {@link TunnelError} (500) when
   * the target or headers function fails.
   */
  decide(call: RouteInput<Context>): RouteDecision {
    try {
      const decision = this.#route(call);
      if ((decision.kind !== 'tunnel' && decision.kind !== 'http') || this.#headers === undefined)
        return decision;
      const headers = routeHeaders(this.#headers(call.context));
      return headers === undefined ? decision : { ...decision, headers };
    } catch (error) {
      throw toTunnelError(error);
    }
  }

  #route(call: RouteInput<Context>): RouteDecision {
    if (this.#target === undefined) return this.#rules!.route(call.req, call.path);
    const compiled = this.#target(call.context);
    const captures = call.captures ?? [];
    if (call.matched === 'path' && !compiled.backreferences)
      return routeWholePath(compiled, call.req, call.path, captures);
    return compiled.table.route(call.req, call.path, captures);
  }

  /** Routes one request that reached the route; see {@link RouteResult}. */
  handle(call: RouteCall<Context>): RouteResult {
    const { req } = call;
    const bridged = bridgedUpgrade(req) !== undefined;
    if (!bridged) warnIfUnbridged(req);
    let decision: RouteDecision;
    try {
      decision = this.decide(call);
    } catch (error) {
      return this.#refuse(req, error as TunnelError);
    }
    if (decision.kind === 'pass') return Promise.resolve('pass');
    if (decision.kind === 'reject')
      return this.#refuse(req, new TunnelError('ERR_WSTUNNEL_BAD_REQUEST', decision.status, decision.reason));
    if (decision.kind === 'tunnel') {
      const upgrade = takeBridgedUpgrade(req);
      if (upgrade === undefined) return this.#refuse(req, notRouted());
      call.respond?.();
      const opened = this.engine.tunnel(req, upgrade.socket, upgrade.head, decision);
      if (call.outcome !== undefined) void opened.then(call.outcome);
      return Promise.resolve('handled');
    }
    // A bridged upgrade proxied as plain HTTP: the app's response, bound to the socket, carries the backend's answer.
    if (bridged) keepBridgedResponse(req);
    const http = decision;
    return new Promise((resolve, reject) => {
      call.res.once('close', () => resolve('handled'));
      this.engine.proxyHttp(req, call.res, http, {
        respond: () => {
          call.respond?.();
          resolve('handled');
        },
        fail: reject,
      });
    });
  }

  #refuse(req: IncomingMessage, error: TunnelError): RouteResult {
    this.engine.reportFailure(req, error);
    return Promise.reject(error);
  }
}

/** Whether some rule of `table` proxies plain requests (ProxyWebsocketFallbackToProxyHttp, or an http target). */
function servesPlain(table: RuleTable): boolean {
  return table.rules.some(
    (rule) => rule.kind !== 'exclude' && (!rule.target.websocketScheme || rule.target.fallbackToHttp),
  );
}

function toTunnelError(error: unknown): TunnelError {
  if (error instanceof TunnelError) return error;
  const message = `the route's target or headers function failed: ${(error as Error)?.message ?? String(error)}`;
  return new TunnelError('ERR_WSTUNNEL_ROUTE_FUNCTION', 500, message, error);
}

const warned = new WeakSet<Server>();

function notRouted(): TunnelError {
  return new TunnelError(
    'ERR_WSTUNNEL_UPGRADE_NOT_ROUTED',
    500,
    'this upgrade reached the app as a plain request: call routeUpgrades(server, app) once after creating the server',
  );
}

/** The first plain request on a server whose upgrades bypass the app says so, before the first WebSocket fails. */
function warnIfUnbridged(req: IncomingMessage): void {
  const server = (req.socket as { server?: Server }).server;
  if (server === undefined || warned.has(server) || bridgesUpgrades(server as never)) return;
  warned.add(server);
  process.emitWarning(
    'wstunnel: upgrades on this server do not go through the app, so its WebSocket routes cannot take them; call routeUpgrades(server, app) once after creating the server',
    { type: 'WstunnelWarning', code: 'WSTUNNEL_UPGRADES_NOT_ROUTED' },
  );
}
