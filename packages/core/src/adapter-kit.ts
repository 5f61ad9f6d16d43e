/** Why: the `wstunnel(target, options)` / `wstunnel(options)` call and the drain handle are the same in every adapter. */

import { type RouteTarget, RouteTunnel, type RouteTunnelOptions } from './route-tunnel.ts';
import type { CloseOptions, Wstunnel } from './wstunnel.ts';

/** What an adapter's middleware carries besides being one: the engine and its drain. */
export interface Drainable extends AsyncDisposable {
  /** The engine: events, `size`, `openTunnels`. */
  readonly tunnel: Wstunnel;
  /** Drains: see {@link Wstunnel.close}. */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * The tunnel behind an adapter's `wstunnel(target, options)` or `wstunnel(options)` call; `adapter` names it in
 * configuration errors.
 */
export function routeTunnel<Context>(
  targetOrOptions: RouteTarget<Context> | RouteTunnelOptions<Context>,
  options: Omit<RouteTunnelOptions<Context>, 'target' | 'rules'> | undefined,
  adapter: string,
): RouteTunnel<Context> {
  const spec =
    typeof targetOrOptions === 'object' && targetOrOptions !== null && !(targetOrOptions instanceof URL)
      ? targetOrOptions
      : { ...options, target: targetOrOptions };
  return new RouteTunnel<Context>(spec, adapter);
}

/** Gives `middleware` the route's engine and drain (`close()`, `await using`). */
export function drainable<Middleware extends object>(
  middleware: Middleware,
  route: RouteTunnel<never>,
): Middleware & Drainable {
  const engine = route.engine;
  return Object.assign(middleware, {
    tunnel: engine,
    close: (options?: CloseOptions) => engine.close(options),
    [Symbol.asyncDispose]: () => engine.close(),
  });
}
