// Why: Koa must tunnel exactly like the gateway, with its middleware in front of the tunnel.
import { once } from 'node:events';
import type { Server } from 'node:http';
import { routeUpgrades, wstunnel } from '@wstunnel/koa';
import Koa from 'koa';
import { conformanceSuite } from '../helpers/conformance.ts';
import { closeServer } from '../helpers/net.ts';

conformanceSuite('koa', {
  auth: true,
  async start({ target, tunnel = {}, catchAll = false, auth = false }) {
    const app = new Koa();
    // Failed handshakes are reported with app.emit('error'); keep them off stderr.
    app.silent = true;
    if (auth)
      app.use(async (ctx, next) => {
        if (ctx.get('x-auth') !== '') return next();
        ctx.status = 401;
        ctx.body = 'no';
      });
    const route = wstunnel({ rules: [{ path: '/ws/', target, ...tunnel }] });
    app.use(route);
    if (catchAll)
      app.use((ctx) => {
        ctx.body = `app ${ctx.url}`;
      });
    const server: Server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const stop = routeUpgrades(server, app);
    const { port } = server.address() as { port: number };
    return {
      server,
      port,
      engine: route.tunnel,
      url: (path) => `ws://127.0.0.1:${port}${path}`,
      async close() {
        stop();
        await route.close({ timeout: 0 });
        await closeServer(server);
      },
    };
  },
});
