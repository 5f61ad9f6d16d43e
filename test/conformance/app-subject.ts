/** Why: the Express and Koa subjects differ only in how the app is built; serving it, its setup line and closing it do not. */

import { createServer, type RequestListener, type Server } from 'node:http';
import type { Wstunnel } from '@wstunnel/core';
import type { Drain, RunningSubject } from '../helpers/conformance.ts';
import { closeServer, listen } from '../helpers/net.ts';

/**
 * Starts an Express or Koa subject: serves `listener` (the app's Node entry point) on a free loopback port, runs the
 * setup line `routeUpgrades` unless it is left out, and on close drains `route` (the `/ws/` middleware) at once.
 */
export async function startAppSubject(
  listener: RequestListener,
  route: Drain & { readonly tunnel: Wstunnel },
  routeUpgrades: ((server: Server) => () => void) | undefined,
): Promise<RunningSubject> {
  const server = createServer(listener);
  const port = await listen(server);
  const stop = routeUpgrades?.(server);
  return {
    server,
    port,
    engine: route.tunnel,
    drain: route,
    url: (path) => `ws://127.0.0.1:${port}${path}`,
    async close() {
      stop?.();
      await route.close({ timeout: 0 });
      await closeServer(server);
    },
  };
}
