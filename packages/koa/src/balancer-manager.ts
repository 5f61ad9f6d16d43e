/** Why: the balancer-manager page (GET JSON, POST changes) as Koa middleware, for the user to mount behind their own auth. */

import { balancerManager as coreManager } from '@wstunnel/core';
import type Koa from 'koa';
import type { KoaTunnel } from './index.ts';

/**
 * The balancer-manager of `tunnels` as Koa middleware: GET shows the balancers as JSON, POST (JSON) changes a member.
 * Mount it behind your own auth, e.g. `router.all('/balancer-manager', requireAdmin, balancerManager(chat))`.
 */
export function balancerManager(...tunnels: readonly KoaTunnel[]): Koa.Middleware {
  const manage = coreManager(() => tunnels.map((tunnel) => tunnel.tunnel));
  return async (ctx) => {
    // The handler writes the raw response itself (Koa's documented escape hatch).
    ctx.respond = false;
    manage(ctx.req, ctx.res, (ctx.request as { body?: unknown }).body);
  };
}
