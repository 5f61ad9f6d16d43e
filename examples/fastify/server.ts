// Why: the three recipes of the mod_proxy_wstunnel documentation written as Fastify plugin registrations, with an
// auth hook in front of a tunnel, the way a Fastify app would add WebSocket backends next to its own routes.
// Run: pnpm --dir examples/fastify start   (PORT=8080, BACKEND=ws://host:port or an embedded backend; see README)

import { backendFromEnv } from '@wstunnel/example-backend';
import { listenOnPort } from '@wstunnel/example-backend/listen';
import wstunnel from '@wstunnel/fastify';
import Fastify, { type onRequestHookHandler } from 'fastify';

const backend = await backendFromEnv(process.env['BACKEND']);
// Recipe 1's wss:// half needs a TLS backend; without BACKEND_TLS, /wss2/ reaches the same backend over ws://.
const tlsBackend = (process.env['BACKEND_TLS'] || backend.ws).replace(/\/+$/, '');
const token = process.env['TOKEN'] || 'let-me-in';

// Failed handshakes (backend down or slow) are logged at warn level; plain requests get the same status as errors.
const fastify = Fastify({ logger: { level: 'warn' } });
fastify.addHook('onClose', () => backend.close());

// Auth before the upgrade: the hook runs for WebSocket handshakes like for any request, and its 401 is what the
// client gets (no 101, the backend is never contacted). Browsers cannot set headers on a WebSocket, hence ?token=.
const requireToken: onRequestHookHandler = async (request, reply) => {
  const query = request.query as Record<string, string | undefined>;
  const given = request.headers.authorization?.replace(/^Bearer\s+/i, '') ?? query['token'];
  if (given !== token)
    return reply.code(401).header('www-authenticate', 'Bearer').send('a token is required\n');
};
// The hook is encapsulated: it guards this registration only, and the recipe routes stay open.
fastify.register(async (scope) => {
  scope.addHook('onRequest', requireToken);
  scope.register(wstunnel, {
    prefix: '/private',
    target: `${backend.ws}/private/`,
    // The token stays here; the backend learns who is calling instead.
    headers: () => ({ authorization: undefined, 'x-user': 'token-holder' }),
  });
});

// Recipe 1: ProxyPass "/ws2/" "ws://echo.websocket.org/" and ProxyPass "/wss2/" "wss://echo.websocket.org/".
// The prefix is stripped: /ws2/chat reaches <backend>/chat.
fastify.register(wstunnel, { prefix: '/ws2', target: `${backend.ws}/` });
fastify.register(wstunnel, { prefix: '/wss2', target: `${tlsBackend}/` });

// Recipe 3: RewriteCond %{HTTP:Upgrade} websocket [NC] + RewriteCond %{HTTP:Connection} upgrade [NC]
//           RewriteRule ^/?(.*) "ws://backend/$1" [P,L]   (here for the URLs under /app/)
// Fastify routes do not fall through, so the `ProxyPass / http://…` that takes the other requests in Apache is the
// registration's second rule.
fastify.register(wstunnel, {
  prefix: '/app',
  rules: [
    {
      rewrite: '^/(.*)',
      target: `${backend.ws}/app/$1`,
      conditions: [
        { test: '%{HTTP:Upgrade}', pattern: 'websocket', nocase: true },
        { test: '%{HTTP:Connection}', pattern: 'upgrade', nocase: true },
      ],
    },
    { path: '/', target: `${backend.http}/app/` },
  ],
});

// Recipe 2: ProxyPassMatch ^/(myApp/ws)$ ws://backend:9080/$1, then ProxyPass / http://backend:9080/.
// Fastify picks routes by specificity, not declaration order; the order is kept inside one registration's rules,
// where the WebSocket-only URL comes first and the HTTP catch-all takes everything else.
fastify.register(wstunnel, {
  rules: [
    { match: '^/(myApp/ws)$', target: `${backend.ws}/$1` },
    { path: '/', target: `${backend.http}/` },
  ],
});

const url = await listenOnPort((port) => fastify.listen({ host: '127.0.0.1', port }));
console.log(`listening on ${url}`);
console.log(`backend ${backend.ws} (/wss2/ -> ${tlsBackend}), token for /private/: ${token}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: draining`);
    // Drains every registration's tunnels (new upgrades get 503, open ones get closeTimeout), then closes the server.
    await fastify.close();
  });
}
