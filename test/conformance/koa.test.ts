// Why: Koa must tunnel exactly like the gateway, with its middleware in front of the tunnel.
import { routeUpgrades, wstunnel } from '@wstunnel/koa';
import Koa from 'koa';
import { conformanceSuite } from '../helpers/conformance.ts';
import { startAppSubject } from './app-subject.ts';

conformanceSuite('koa', {
  auth: true,
  routeUpgrades: true,
  async start({ target, tunnel = {}, catchAll = false, auth = false, routed = true }) {
    const app = new Koa();
    // Failed handshakes are reported with app.emit('error'); keep them off stderr.
    app.silent = true;
    if (auth)
      app.use(async (ctx, next) => {
        const token = ctx.get('x-auth');
        if (token === 'yes') return next();
        ctx.status = token === '' ? 401 : 403;
        ctx.body = ctx.status === 401 ? 'no' : 'forbidden';
      });
    const route = wstunnel({ rules: [{ path: '/ws/', target, ...tunnel }] });
    app.use(route);
    if (catchAll)
      app.use((ctx) => {
        ctx.body = `app ${ctx.url}`;
      });
    return startAppSubject(
      app.callback(),
      route,
      routed ? (server) => routeUpgrades(server, app) : undefined,
    );
  },
});
