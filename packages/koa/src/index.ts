/**
 * Why: Koa middleware order, koa-mount and @koa/router decide which requests reach a tunnel; this turns such a
 * middleware into a core route tunnel and lets Koa see the server's upgrades.
 * @module
 */

import type { Server } from 'node:http';
import {
  bridgeUpgrades,
  type Drainable,
  drainable,
  type RouteTarget,
  type RouteTunnelOptions,
  routeCaptures,
  routeMatch,
  routeTunnel,
  type UpgradeBridgeOptions,
} from '@wstunnel/core';
import type Koa from 'koa';

export { balancerManager } from './balancer-manager.ts';

/** What wstunnel reads of an @koa/router layer in `ctx.matched`. */
interface RouterLayer {
  readonly path: unknown;
  readonly stack: readonly unknown[];
  /** Empty for `router.use()` layers, which are not end-anchored routes. */
  readonly methods: readonly string[];
}

/** Options of {@link wstunnel}; target and header functions receive the Koa context (`ctx.state.user`, params). */
export type KoaTunnelOptions = RouteTunnelOptions<Koa.Context>;

/** Target options of the `wstunnel(target, options)` form. */
export type KoaTargetOptions = Omit<KoaTunnelOptions, 'target' | 'rules'>;

/** Koa middleware that tunnels the upgrades (and proxies the plain requests) reaching it; drain it with `close()`. */
export type KoaTunnel = Koa.Middleware & Drainable;

/**
 * Tunnels what reaches this middleware to `target` (`ctx.url` appended; under koa-mount, without the mount), or with
 * the route's parameters as `$1`-`$9` inside `@koa/router` routes. Requests no rule takes go on to `next()`. Errors
 * are thrown with `status` set (error middleware and `app.on('error')` see them); a failed handshake is reported
 * with `app.emit('error', err, ctx)`.
 */
export function wstunnel(target: RouteTarget<Koa.Context>, options?: KoaTargetOptions): KoaTunnel;
/** Tunnels by ordered rules matched against `ctx.url`. */
export function wstunnel(options: KoaTunnelOptions): KoaTunnel;
export function wstunnel(
  targetOrOptions: RouteTarget<Koa.Context> | KoaTunnelOptions,
  options?: KoaTargetOptions,
): KoaTunnel {
  const route = routeTunnel<Koa.Context>(targetOrOptions, options, '@wstunnel/koa');
  const middleware: Koa.Middleware = async function wstunnel(ctx, next) {
    // Only the @koa/router route this middleware belongs to counts: one matched earlier leaves its traces on ctx.
    const { matched = [], captures } = ctx as { matched?: RouterLayer[]; captures?: string[] };
    const layer = matched.find(
      (candidate) => candidate.stack.includes(middleware) && candidate.methods.length > 0,
    );
    const result = await route.handle({
      req: ctx.req,
      res: ctx.res,
      path: ctx.url,
      captures: layer === undefined ? [] : (captures ?? routeCaptures(ctx['params'])),
      matched: routeMatch(layer?.path),
      context: ctx,
      // Where wstunnel answers, Koa must not write its own response (Koa's documented escape hatch for raw `res`).
      respond: () => {
        ctx.respond = false;
      },
      outcome: (outcome) => {
        if (outcome.kind === 'failed') ctx.app.emit('error', outcome.error, ctx);
      },
    });
    if (result === 'pass') await next();
  };
  return drainable(middleware, route);
}

/**
 * The one setup line: runs the upgrades of `server` through `app`, so middleware before a tunnel (auth, sessions)
 * sees them and can refuse them with a status. Call it once, after `app.listen()`. Upgrades the app answers 404 go on
 * to the server's other upgrade handlers. Returns a function that stops it.
 */
export function routeUpgrades(server: Server, app: Koa, options?: UpgradeBridgeOptions): () => void {
  return bridgeUpgrades(server, app.callback(), { ...options, app });
}
