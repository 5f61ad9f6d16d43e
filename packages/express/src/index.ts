/**
 * Why: Express routing (mount paths, regex routes, declaration order, the middleware before it) decides which requests
 * reach a tunnel; this turns such a route into a core route tunnel and lets Express see the server's upgrades.
 * @module
 */

import type { Server } from 'node:http';
import {
  bridgeUpgrades,
  balancerManager as coreManager,
  type Drainable,
  drainable,
  type RouteTarget,
  type RouteTunnelOptions,
  regexCaptures,
  routeCaptures,
  routeMatch,
  routeTunnel,
  type UpgradeBridgeOptions,
} from '@wstunnel/core';
import type { Application, Request, RequestHandler } from 'express';

/** Options of {@link wstunnel}; target and header functions receive the Express `req` (params, session, user). */
export type ExpressTunnelOptions = RouteTunnelOptions<Request>;

/** Target options of the `wstunnel(target, options)` form. */
export type ExpressTargetOptions = Omit<ExpressTunnelOptions, 'target' | 'rules'>;

/** Express middleware that tunnels the upgrades (and proxies the plain requests) reaching it; drain it with `close()`. */
export type ExpressTunnel = RequestHandler & Drainable;

/**
 * Tunnels what reaches this middleware to `target`, the mount path stripped: `app.use('/ws2/', wstunnel('ws://echo/'))`,
 * or with the route's parameters as `$1`-`$9`: `app.get(/^\/(myApp\/ws)$/, wstunnel('ws://backend:9080/$1'))`.
 * Requests no rule takes go to `next()`; errors go to `next(err)` with `err.status` set.
 */
export function wstunnel(target: RouteTarget<Request>, options?: ExpressTargetOptions): ExpressTunnel;
/** Tunnels by ordered rules matched against the mount-relative path (`req.url`). */
export function wstunnel(options: ExpressTunnelOptions): ExpressTunnel;
export function wstunnel(
  targetOrOptions: RouteTarget<Request> | ExpressTunnelOptions,
  options?: ExpressTargetOptions,
): ExpressTunnel {
  const tunnel = routeTunnel<Request>(targetOrOptions, options, '@wstunnel/express');
  const middleware: RequestHandler = function wstunnel(req, res, next) {
    // req.route outlives the route that set it: only a route holding this middleware is ours.
    const route = req.route as { path: unknown; stack: { handle: unknown }[] } | undefined;
    const pattern = route?.stack.some((layer) => layer.handle === middleware) ? route.path : undefined;
    const captures = pattern instanceof RegExp ? regexCaptures(pattern, req.path) : routeCaptures(req.params);
    const call = { req, res, path: req.url, captures, matched: routeMatch(pattern), context: req };
    tunnel.handle(call).then((result) => {
      if (result === 'pass') next();
    }, next);
  };
  return drainable(middleware, tunnel);
}

/**
 * The balancer-manager of `tunnels` as an Express handler: GET shows the balancers as JSON, POST (JSON) changes a
 * member. Mount it behind your own auth: `app.use('/balancer-manager', requireAdmin, balancerManager(chat))`.
 */
export function balancerManager(...tunnels: readonly ExpressTunnel[]): RequestHandler {
  const manage = coreManager(() => tunnels.map((tunnel) => tunnel.tunnel));
  return (req, res) => manage(req, res, req.body);
}

/**
 * The one setup line: runs the upgrades of `server` through `app`, so middleware before a tunnel (auth, sessions)
 * sees them and can refuse them with a status. Call it once, after `app.listen()` or `http.createServer(app)`.
 * Upgrades the app answers 404 go on to the server's other upgrade handlers. Returns a function that stops it.
 */
export function routeUpgrades(server: Server, app: Application, options?: UpgradeBridgeOptions): () => void {
  return bridgeUpgrades(server, app, options);
}
