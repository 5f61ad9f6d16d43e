import type { AddressInfo } from 'node:net';
import { backendFromEnv } from '@wstunnel/example-backend';
import { listenApp, listenOnPort } from '@wstunnel/example-backend/listen';
import { type ExpressTunnel, routeUpgrades, wstunnel } from '@wstunnel/express';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';

const backend = await backendFromEnv(process.env['BACKEND']);
// Recipe 1's wss:// half needs a TLS backend; without BACKEND_TLS, /wss2/ reaches the same backend over ws://.
const tlsBackend = (process.env['BACKEND_TLS'] || backend.ws).replace(/\/+$/, '');
const token = process.env['TOKEN'] || 'let-me-in';

const app = express();
const tunnels: ExpressTunnel[] = [];
/** Every tunnel is kept, so shutdown can drain them all. */
const drained = (tunnel: ExpressTunnel): ExpressTunnel => {
  tunnels.push(tunnel);
  return tunnel;
};

// Auth before the upgrade: middleware sees WebSocket handshakes like any request, and its 401 is what the client
// gets (no 101, the backend is never contacted). Browsers cannot set headers on a WebSocket, hence ?token= too.
const requireToken: RequestHandler = (req, res, next) => {
  const given = req.get('authorization')?.replace(/^Bearer\s+/i, '') ?? req.query['token'];
  if (given === token) return next();
  res.status(401).set('www-authenticate', 'Bearer').type('text').send('a token is required\n');
};
app.use(
  '/private/',
  requireToken,
  drained(
    wstunnel(`${backend.ws}/private/`, {
      // The token stays here; the backend learns who is calling instead.
      headers: () => ({ authorization: undefined, 'x-user': 'token-holder' }),
    }),
  ),
);

// Recipe 1: ProxyPass "/ws2/" "ws://echo.websocket.org/" and ProxyPass "/wss2/" "wss://echo.websocket.org/".
// The mount is stripped: /ws2/chat reaches <backend>/chat.
app.use('/ws2/', drained(wstunnel(`${backend.ws}/`)));
app.use('/wss2/', drained(wstunnel(`${tlsBackend}/`)));

// Recipe 3: RewriteCond %{HTTP:Upgrade} websocket [NC] + RewriteCond %{HTTP:Connection} upgrade [NC]
//           RewriteRule ^/?(.*) "ws://backend/$1" [P,L]   (here for the URLs under /app/)
// WebSocket handshakes under /app/ go to the WebSocket backend; other requests match no rule, so they go on to the
// catch-all below, as they go on to `ProxyPass / http://…` in Apache.
app.use(
  '/app/',
  drained(
    wstunnel({
      rules: [
        {
          rewrite: '^/(.*)',
          target: `${backend.ws}/app/$1`,
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
// The WebSocket-only URL is declared first; $1 is the route's first capture.
app.get(/^\/(myApp\/ws)$/, drained(wstunnel(`${backend.ws}/$1`)));
app.use(drained(wstunnel(`${backend.http}/`)));

// Plain requests a tunnel cannot serve reach the error handler with err.status (502 backend down, 504 too slow,
// 503 draining). A failed WebSocket handshake never gets here: wstunnel answers it on the socket with the same status.
const onError: ErrorRequestHandler = (error: Error & { status?: number }, req, res, _next) => {
  console.error(`${req.method} ${req.originalUrl}: ${error.message}`);
  res
    .status(error.status ?? 500)
    .type('text')
    .send(`${error.message}\n`);
};
app.use(onError);

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
