import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { backendFromEnv } from '@wstunnel/example-backend';
import { listenApp, listenOnPort } from '@wstunnel/example-backend/listen';
import { type KoaTunnel, routeUpgrades, wstunnel } from '@wstunnel/koa';
import Koa from 'koa';

const backend = await backendFromEnv(process.env['BACKEND']);
// Recipe 1's wss:// half needs a TLS backend; without BACKEND_TLS, /wss2/ reaches the same backend over ws://.
const tlsBackend = (process.env['BACKEND_TLS'] || backend.ws).replace(/\/+$/, '');
const token = process.env['TOKEN'] || 'let-me-in';

const app = new Koa();
const router = new Router();
const tunnels: KoaTunnel[] = [];
/** Every tunnel is kept, so shutdown can drain them all. */
const drained = (tunnel: KoaTunnel): KoaTunnel => {
  tunnels.push(tunnel);
  return tunnel;
};

// Auth before the upgrade: middleware sees WebSocket handshakes like any request, and its 401 is what the client
// gets (no 101, the backend is never contacted). Browsers cannot set headers on a WebSocket, hence ?token= too.
const requireToken: Koa.Middleware = async (ctx, next) => {
  const given = ctx.get('authorization').replace(/^Bearer\s+/i, '') || ctx.query['token'];
  if (given !== token) {
    ctx.set('www-authenticate', 'Bearer');
    ctx.throw(401, 'a token is required');
  }
  await next();
};
// {/*rest} (optional, so /private itself is guarded too) is the route's first parameter: $1 in the target.
router.all(
  '/private{/*rest}',
  requireToken,
  drained(
    wstunnel(`${backend.ws}/private/$1`, {
      // The token stays here; the backend learns who is calling instead.
      headers: () => ({ authorization: undefined, 'x-user': 'token-holder' }),
    }),
  ),
);

// Recipe 1: ProxyPass "/ws2/" "ws://echo.websocket.org/" and ProxyPass "/wss2/" "wss://echo.websocket.org/".
// /ws2/chat reaches <backend>/chat.
router.all('/ws2/{*rest}', drained(wstunnel(`${backend.ws}/$1`)));
router.all('/wss2/{*rest}', drained(wstunnel(`${tlsBackend}/$1`)));

// Recipe 3: RewriteCond %{HTTP:Upgrade} websocket [NC] + RewriteCond %{HTTP:Connection} upgrade [NC]
//           RewriteRule ^/?(.*) "ws://backend/$1" [P,L]   (here for the URLs under /app/)
// WebSocket handshakes under /app/ go to the WebSocket backend; other requests match no rule, so they go on to the
// catch-all below, as they go on to `ProxyPass / http://…` in Apache.
router.all(
  '/app/{*rest}',
  drained(
    wstunnel({
      rules: [
        {
          rewrite: '^/(app/.*)',
          target: `${backend.ws}/$1`,
          conditions: [
            { test: '%{HTTP:Upgrade}', pattern: 'websocket', nocase: true },
            { test: '%{HTTP:Connection}', pattern: 'upgrade', nocase: true },
          ],
        },
      ],
    }),
  ),
);

// Recipe 2: ProxyPassMatch ^/(myApp/ws)$ ws://backend:9080/$1, then ProxyPass / http://backend:9080/.
// The WebSocket-only URL comes first ($1 is the route's first capture); everything else falls through the router to
// the HTTP catch-all.
router.get(/^\/(myApp\/ws)$/, drained(wstunnel(`${backend.ws}/$1`)));
app.use(router.routes());
app.use(drained(wstunnel(`${backend.http}/`)));

// Koa reports errors here: for plain requests (502 backend down, 504 too slow, 503 draining) and for WebSocket
// handshakes that failed after wstunnel answered them with the same status.
app.on('error', (error: Error & { status?: number }, ctx?: Koa.Context) => {
  if ((error.status ?? 500) >= 500) console.error(`${ctx?.method} ${ctx?.url}: ${error.message}`);
});

const server = await listenOnPort((port) => listenApp(app, port));
// The one setup line: upgrades now run through the app (requireToken, the routes above) instead of around it.
const stopRouting = routeUpgrades(server, app);
console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
console.log(`backend ${backend.ws} (/wss2/ -> ${tlsBackend}), token for /private/: ${token}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: draining`);
    server.close();
    // Open tunnels get two seconds to finish, then are ended; upgrades still arriving meanwhile get 503.
    await Promise.all(tunnels.map((tunnel) => tunnel.close({ timeout: 2_000 })));
    stopRouting();
    server.closeAllConnections();
    await backend.close();
  });
}
