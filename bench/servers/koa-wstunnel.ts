/** Why: the `koa` target, @wstunnel/koa in a Koa 3 app, to price the adapter against the bare gateway. */

import { routeUpgrades, wstunnel } from '@wstunnel/koa';
import Koa from 'koa';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined)
  throw new Error('usage: koa-wstunnel.ts PORT BACKEND_PORT');

const app = new Koa();
app.use(wstunnel({ rules: [{ path: '/ws/', target: `ws://127.0.0.1:${backendPort}/` }] }));
routeUpgrades(app.listen(port, '127.0.0.1'), app);
