// Why: Express decides which requests reach a tunnel (mounts, routers, regex and param routes, the middleware before
// it, its error handlers); WebSockets must follow the same routing as plain requests, on a freshly started server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { TunnelError } from '@wstunnel/core';
import { routeUpgrades, wstunnel } from '@wstunnel/express';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import { WebSocketServer } from 'ws';
import { startRawBackend } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { deadPort, handshakeRequest, rawConnect, rawExchange, statusOf } from '../helpers/net.ts';
import {
  awaitUsingSupported,
  echo,
  get,
  nextWarning,
  openWs,
  serve,
  startAppBackend,
  upgrade,
} from './support.ts';

const defer = cleanupAfterEach();

/** What an app's middleware put on the request before the tunnel. */
type AuthedRequest = Request & { user?: string };

const userOf = (req: Request): string => (req as AuthedRequest).user ?? '-';

/** An app whose default error handler does not log every 4xx/5xx to stderr (Express's 'test' env). */
function expressApp(): Express {
  const app = express();
  app.set('env', 'test');
  return app;
}

/** Listens with `app` on a fresh server and routes its upgrades through the app (the one setup line). */
async function start(app: Express, { routed = true } = {}): Promise<number> {
  const { server, port } = await serve(defer, app);
  if (routed) routeUpgrades(server, app);
  return port;
}

/** Drains a tunnel middleware after the test (at once), whatever the test left open. */
function owned<T extends { close(options?: { timeout?: number }): Promise<void> }>(tunnel: T): T {
  defer(() => tunnel.close({ timeout: 0 }));
  return tunnel;
}

/** An error middleware that records what reached it and renders its own body. */
function errorRecorder(): {
  handler: ErrorRequestHandler;
  errors: (Error & { status?: number; code?: string })[];
} {
  const errors: (Error & { status?: number; code?: string })[] = [];
  const handler: ErrorRequestHandler = (err, _req, res, _next) => {
    errors.push(err);
    res
      .status(err.status ?? 500)
      .type('text')
      .send(`app error ${err.status} ${err.code}`);
  };
  return { handler, errors };
}

describe('Express: mounts strip their path for WebSockets and plain requests alike', () => {
  test("app.use('/ws2/', wstunnel(origin + '/')): /ws2/a/x?q goes to /a/x?q and GET /ws2/page to /page", async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/ws2/', owned(wstunnel(`${backend.origin}/`)));
    const port = await start(app);

    // The first WebSocket on the fresh server, no warm-up.
    const client = await openWs(defer, port, '/ws2/a/x?q=1');
    assert.equal(await echo(client, 'hello'), 'hello');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/a/x?q=1'],
    );

    const page = await get(port, '/ws2/page');
    assert.equal(page.status, 200);
    assert.equal(page.body, 'plain /page');
    assert.deepEqual(
      backend.requests.map((seen) => seen.url),
      ['/page'],
    );
    for (const seen of [...backend.upgrades, ...backend.requests]) assert.doesNotMatch(seen.url, /ws2/);
  });

  test('a POST with a body under the mount is proxied with its body (long-polling transports)', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/ws2/', owned(wstunnel(`${backend.origin}/`)));
    const port = await start(app);

    const posted = await get(port, '/ws2/poll?sid=1', { 'content-type': 'text/plain' }, 'POST', 'payload=1');
    assert.equal(posted.status, 200);
    assert.equal(posted.body, 'plain POST /poll?sid=1 payload=1');
  });

  test("app.use('/ws2', wstunnel(origin)) without slashes maps the same way", async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/ws2', owned(wstunnel(backend.origin)));
    const port = await start(app);

    const client = await openWs(defer, port, '/ws2/chat?room=1');
    assert.equal(await echo(client, 'x'), 'x');
    const root = await openWs(defer, port, '/ws2');
    assert.equal(await echo(root, 'y'), 'y');
    assert.equal((await get(port, '/ws2/page?x=1')).body, 'plain /page?x=1');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/chat?room=1', '/'],
    );
  });

  test('nested express.Router mounts strip every level', async () => {
    const backend = await startAppBackend(defer);
    const inner = express.Router();
    inner.use('/live', owned(wstunnel(`${backend.origin}/stream`)));
    const outer = express.Router();
    outer.use('/v1', inner);
    const app = expressApp();
    app.use('/api', outer);
    const port = await start(app);

    const client = await openWs(defer, port, '/api/v1/live/feed?since=3');
    assert.equal(await echo(client, 'tick'), 'tick');
    assert.equal((await get(port, '/api/v1/live/status')).body, 'plain /stream/status');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/stream/feed?since=3'],
    );
    assert.equal((await upgrade(defer, port, '/api/v2/live/feed')).status, 404);
    assert.equal(backend.upgrades.length, 1);
  });
});

describe('Express: what the app does around the mount', () => {
  test('many WebSockets at once on a freshly started server all open', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/ws2', owned(wstunnel(`${backend.origin}/`)));
    const port = await start(app);

    const clients = await Promise.all(
      Array.from({ length: 20 }, (_, at) => openWs(defer, port, `/ws2/c${at}`)),
    );
    const replies = await Promise.all(clients.map((client, at) => echo(client, `m${at}`)));
    assert.deepEqual(
      replies,
      clients.map((_, at) => `m${at}`),
    );
    assert.equal(backend.upgrades.length, 20);
  });

  test('middleware that rewrites req.url before the tunnel is followed', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use((req, _res, next) => {
      if (req.url.startsWith('/legacy/')) req.url = `/ws2/${req.url.slice('/legacy/'.length)}`;
      next();
    });
    app.use('/ws2', owned(wstunnel(`${backend.origin}/new/`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/legacy/chat?x=1');
    assert.equal(await echo(client, 'r'), 'r');
    assert.equal((await get(port, '/legacy/page')).body, 'plain /new/page');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/new/chat?x=1'],
    );
  });

  // The ws server's 101 must reach the client: a hang here (cut by the timeout) means it stayed in a corked socket.
  test('an upgrade the app answers 404 goes on to another upgrade listener on the server (a ws server)', {
    timeout: 2_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/ws2', owned(wstunnel(`${backend.origin}/`)));
    const { server, port } = await serve(defer, app);
    routeUpgrades(server, app);
    const local = new WebSocketServer({ server, path: '/local' });
    defer(() => {
      for (const client of local.clients) client.terminate();
      local.close();
    });
    local.on('connection', (client) => client.on('message', (data) => client.send(`local ${data}`)));

    const tunnelled = await openWs(defer, port, '/ws2/a');
    assert.equal(await echo(tunnelled, 'x'), 'x');
    const own = await openWs(defer, port, '/local');
    assert.equal(await echo(own, 'y'), 'local y');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/a'],
    );
  });

  test('a path with dot segments under a mount gets 400 through next(err) (raw upgrade, not normalised)', async () => {
    const backend = await startAppBackend(defer);
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    app.use('/ws2', owned(wstunnel(`${backend.origin}/`)));
    app.use(handler);
    const port = await start(app);

    for (const path of ['/ws2/a/%2e%2e/admin', '/ws2/a/../admin', '/ws2/..%2fadmin']) {
      const response = await rawExchange(port, handshakeRequest(path, {}, port));
      assert.equal(statusOf(response), 400, path);
    }
    assert.deepEqual(
      errors.map((error) => error.code),
      ['ERR_WSTUNNEL_BAD_REQUEST', 'ERR_WSTUNNEL_BAD_REQUEST', 'ERR_WSTUNNEL_BAD_REQUEST'],
    );
    assert.equal(backend.upgrades.length, 0);
  });
});

describe('Express: routes and their parameters', () => {
  test('a regex route with $1 reaches /myApp/ws, and /myApp/wsX does not match (404)', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.get(/^\/(myApp\/ws)$/, owned(wstunnel(`${backend.origin}/$1`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/myApp/ws');
    assert.equal(await echo(client, 'regex'), 'regex');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/myApp/ws'],
    );
    const miss = await upgrade(defer, port, '/myApp/wsX');
    assert.equal(miss.status, 404);
    assert.equal(backend.upgrades.length, 1);
  });

  test("an exact route with a URL target: app.get('/myApp/ws', wstunnel(origin + '/myApp/ws')) reaches /myApp/ws", async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.get('/myApp/ws', owned(wstunnel(`${backend.origin}/myApp/ws`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/myApp/ws');
    assert.equal(await echo(client, 'recipe'), 'recipe');
    // The Apache recipe `ProxyPass /myApp/ws ws://backend:9080/myApp/ws`, written as a route.
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/myApp/ws'],
    );
  });

  test("named params: app.get('/rooms/:room', wstunnel(origin + '/r/$1'))", async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.get('/rooms/:room', owned(wstunnel(`${backend.origin}/r/$1`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/rooms/lobby');
    assert.equal(await echo(client, 'hi'), 'hi');
    // Express decodes the param; it is encoded again for the backend path.
    const spaced = await openWs(defer, port, '/rooms/a%20b');
    assert.equal(await echo(spaced, 'hi'), 'hi');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/r/lobby', '/r/a%20b'],
    );
    assert.equal((await get(port, '/rooms/lobby')).body, 'plain /r/lobby');
    assert.equal((await upgrade(defer, port, '/rooms/lobby/extra')).status, 404);
    assert.equal(backend.upgrades.length, 2);
  });

  test("a wildcard route's $1 (Express 5 gives *rest as an array) reaches the backend instead of a 500", async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.all('/files/*rest', owned(wstunnel(`${backend.origin}/f/$1`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/files/a/b%20c');
    assert.equal(await echo(client, 'hi'), 'hi');
    assert.equal((await get(port, '/files/x/y')).body, 'plain /f/x/y');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/f/a/b%20c'],
    );
  });

  test('a target function sees req.params and what earlier middleware set (req.user)', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    const setUser: RequestHandler = (req, _res, next) => {
      (req as AuthedRequest).user = String(req.headers['x-token'] ?? 'anonymous');
      next();
    };
    app.use(
      '/rooms/:room',
      setUser,
      owned(wstunnel((req) => `${backend.origin}/users/${userOf(req)}/rooms/${req.params['room']}`)),
    );
    const port = await start(app);

    const client = await openWs(defer, port, '/rooms/lobby/feed', { 'x-token': 'alice' });
    assert.equal(await echo(client, 'm'), 'm');
    assert.equal(
      (await get(port, '/rooms/kitchen/menu', { 'x-token': 'bob' })).body,
      'plain /users/bob/rooms/kitchen/menu',
    );
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/users/alice/rooms/lobby/feed'],
    );
  });

  test('session/cookie: a cookie-parsing middleware sets req.user and the target function uses it', async () => {
    const backend = await startAppBackend(defer);
    const sessions = new Map([['s3cr3t', 'carol']]);
    const session: RequestHandler = (req, res, next) => {
      const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const user = sid === undefined ? undefined : sessions.get(sid);
      if (user === undefined) {
        res.status(401).send('no session');
        return;
      }
      (req as AuthedRequest).user = user;
      next();
    };
    const app = expressApp();
    app.use('/chat', session, owned(wstunnel((req) => `${backend.origin}/as/${userOf(req)}`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/chat/general', { cookie: 'theme=dark; sid=s3cr3t' });
    assert.equal(await echo(client, 'hello'), 'hello');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/as/carol/general'],
    );
    const anonymous = await upgrade(defer, port, '/chat/general', { cookie: 'sid=wrong' });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body, 'no session');
    assert.equal(backend.upgrades.length, 1);
  });
});

describe('Express: headers functions', () => {
  test('headers adds x-user from req.user and removes a field, for WebSockets and plain requests', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use((req, _res, next) => {
      (req as AuthedRequest).user = 'dave';
      next();
    });
    app.use(
      '/ws',
      owned(
        wstunnel(`${backend.origin}/`, {
          headers: (req) => ({ 'x-user': userOf(req), 'x-internal-secret': undefined }),
        }),
      ),
    );
    const port = await start(app);

    const client = await openWs(defer, port, '/ws/a', { 'x-internal-secret': 'leak', 'x-kept': 'yes' });
    assert.equal(await echo(client, 'h'), 'h');
    const plain = await get(port, '/ws/b', { 'x-internal-secret': 'leak', 'x-kept': 'yes' });
    assert.equal(plain.body, 'plain /b');
    for (const seen of [backend.upgrades[0], backend.requests[0]]) {
      assert.ok(seen !== undefined);
      assert.equal(seen.headers['x-user'], 'dave');
      assert.equal(seen.headers['x-internal-secret'], undefined);
      assert.equal(seen.headers['x-kept'], 'yes');
    }
  });

  test('headers returning a forbidden field (host) answers 500 through next(err), with no backend request', async () => {
    const backend = await startAppBackend(defer);
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    app.use('/ws', owned(wstunnel(`${backend.origin}/`, { headers: () => ({ host: 'evil.example' }) })));
    app.use(handler);
    const port = await start(app);

    const refused = await upgrade(defer, port, '/ws/a');
    assert.equal(refused.status, 500);
    assert.equal(refused.body, 'app error 500 ERR_WSTUNNEL_ROUTE_FUNCTION');
    const plain = await get(port, '/ws/b');
    assert.equal(plain.status, 500);
    assert.equal(errors.length, 2);
    for (const error of errors) {
      assert.ok(error instanceof TunnelError);
      assert.equal(error.code, 'ERR_WSTUNNEL_ROUTE_FUNCTION');
      assert.match(error.message, /host/i);
    }
    assert.equal(backend.upgrades.length, 0);
    assert.equal(backend.requests.length, 0);
  });

  test('a target function that throws reaches the app error middleware (err.code ERR_WSTUNNEL_ROUTE_FUNCTION)', async () => {
    const backend = await startAppBackend(defer);
    const { handler, errors } = errorRecorder();
    const boom = new Error('no such tenant');
    const app = expressApp();
    app.use(
      '/ws',
      owned(
        wstunnel(() => {
          throw boom;
        }),
      ),
    );
    app.use(handler);
    const port = await start(app);

    const refused = await upgrade(defer, port, '/ws/a');
    assert.equal(refused.status, 500);
    assert.equal(refused.body, 'app error 500 ERR_WSTUNNEL_ROUTE_FUNCTION');
    assert.equal((await get(port, '/ws/b')).status, 500);
    assert.equal(errors.length, 2);
    for (const error of errors) {
      assert.equal(error.code, 'ERR_WSTUNNEL_ROUTE_FUNCTION');
      assert.equal(error.status, 500);
      assert.equal((error as Error & { cause?: unknown }).cause, boom);
    }
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });
});

describe('Express: order and the middleware around the tunnel', () => {
  test('WebSocket routes declared before HTTP routes: /app/ws tunnels, the rest of /app goes to the HTTP proxy', async () => {
    const wsBackend = await startAppBackend(defer);
    const httpBackend = await startAppBackend(defer);
    const app = expressApp();
    app.get('/app/ws', owned(wstunnel(`${wsBackend.origin}/socket/$0`)));
    app.use('/app', owned(wstunnel(`${httpBackend.httpOrigin}/`)));
    const port = await start(app);

    const client = await openWs(defer, port, '/app/ws');
    assert.equal(await echo(client, 'order'), 'order');
    assert.equal((await get(port, '/app/index.html')).body, 'plain /index.html');
    assert.equal(wsBackend.upgrades.length, 1);
    assert.equal(httpBackend.upgrades.length, 0);
    assert.deepEqual(
      httpBackend.requests.map((seen) => seen.url),
      ['/index.html'],
    );
  });

  test('declared the other way round, the HTTP proxy takes /app/ws first (as plain HTTP, no 101)', async () => {
    const wsBackend = await startAppBackend(defer);
    const httpBackend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/app', owned(wstunnel(`${httpBackend.httpOrigin}/`)));
    app.get('/app/ws', owned(wstunnel(`${wsBackend.origin}/socket/$0`)));
    const port = await start(app);

    const answer = await upgrade(defer, port, '/app/ws');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'plain /ws');
    assert.equal(wsBackend.upgrades.length, 0);
    assert.equal(httpBackend.upgrades.length, 0);
    assert.equal(httpBackend.requests[0]?.headers.upgrade, undefined);
  });

  test('auth middleware answering 401/403 before the tunnel: the client gets that status, no 101', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/private', (req, res, next) => {
      const token = req.headers.authorization;
      if (token === undefined) res.status(401).set('www-authenticate', 'Bearer').send('log in first');
      else if (token !== 'Bearer good') res.status(403).send('forbidden');
      else next();
    });
    app.use('/private', owned(wstunnel(`${backend.origin}/secret/`)));
    const port = await start(app);

    const anonymous = await upgrade(defer, port, '/private/feed');
    assert.deepEqual(anonymous, { status: 401, body: 'log in first' });
    const wrong = await upgrade(defer, port, '/private/feed', { authorization: 'Bearer bad' });
    assert.deepEqual(wrong, { status: 403, body: 'forbidden' });
    assert.equal(backend.upgrades.length, 0);
    const client = await openWs(defer, port, '/private/feed', { authorization: 'Bearer good' });
    assert.equal(await echo(client, 'in'), 'in');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/secret/feed'],
    );
  });

  test('a plain request to a down backend reaches the error middleware as next(err) with status 502', async () => {
    const port0 = await deadPort();
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    const tunnel = owned(wstunnel(`ws://127.0.0.1:${port0}/`));
    app.use('/down', tunnel);
    app.use(handler);
    const port = await start(app);

    const plain = await get(port, '/down/page');
    assert.equal(plain.status, 502);
    assert.equal(plain.body, 'app error 502 ERR_WSTUNNEL_CONNECT');
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof TunnelError);
    assert.equal(errors[0].status, 502);

    // An upgrade's handshake failure is answered by the core on the socket, not through next(err).
    const failed = once(tunnel.tunnel, 'failed');
    const refused = await upgrade(defer, port, '/down/ws');
    assert.equal(refused.status, 502);
    const [error] = (await failed) as [TunnelError];
    assert.equal(error.code, 'ERR_WSTUNNEL_CONNECT');
    assert.equal(errors.length, 1);
    assert.equal(tunnel.tunnel.size, 0);
  });

  test('fallbackToHttp: false on a ws:// target: a plain GET goes on to the next middleware', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/live', owned(wstunnel(`${backend.origin}/`, { fallbackToHttp: false })));
    app.use('/live', (req, res) => {
      res.type('text').send(`app page ${req.url}`);
    });
    const port = await start(app);

    const client = await openWs(defer, port, '/live/x');
    assert.equal(await echo(client, 'ws'), 'ws');
    const page = await get(port, '/live/x');
    assert.equal(page.status, 200);
    assert.equal(page.body, 'app page /x');
    assert.equal(backend.requests.length, 0);
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/x'],
    );
  });

  test('two wstunnel middlewares in one app: the first passes (no rule / exclusion), the second takes', async () => {
    const first = await startAppBackend(defer);
    const second = await startAppBackend(defer);
    const app = expressApp();
    app.use(
      owned(
        wstunnel({
          rules: [
            { path: '/svc/private/', exclude: true },
            { path: '/svc/', target: `${first.origin}/` },
          ],
        }),
      ),
    );
    app.use('/svc/private', owned(wstunnel(`${second.origin}/p/`)));
    app.use('/feed', owned(wstunnel(`${second.origin}/f/`)));
    const port = await start(app);

    const excluded = await openWs(defer, port, '/svc/private/x');
    assert.equal(await echo(excluded, '2'), '2');
    const unmatched = await openWs(defer, port, '/feed/y');
    assert.equal(await echo(unmatched, '2'), '2');
    const taken = await openWs(defer, port, '/svc/public/z');
    assert.equal(await echo(taken, '1'), '1');
    assert.equal((await get(port, '/svc/private/page')).body, 'plain /p/page');
    assert.deepEqual(
      second.upgrades.map((seen) => seen.url),
      ['/p/x', '/f/y'],
    );
    assert.deepEqual(
      first.upgrades.map((seen) => seen.url),
      ['/public/z'],
    );
    assert.equal(first.requests.length, 0);
  });
});

describe('Express: setup mistakes and lifecycle', () => {
  test('forgetting routeUpgrades: the upgrade gets a 500 naming routeUpgrades, and a process warning', async () => {
    const backend = await startAppBackend(defer);
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    app.use('/ws', owned(wstunnel(`${backend.origin}/`)));
    app.use(handler);
    const port = await start(app, { routed: false });

    const warning = nextWarning('WSTUNNEL_UPGRADES_NOT_ROUTED');
    const refused = await upgrade(defer, port, '/ws/a');
    assert.equal(refused.status, 500);
    assert.match((await warning).message, /routeUpgrades/);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, 'ERR_WSTUNNEL_UPGRADE_NOT_ROUTED');
    assert.match(errors[0]?.message ?? '', /routeUpgrades\(server, app\)/);
    assert.equal(backend.upgrades.length, 0);
  });

  test("forgetting routeUpgrades with Express's default error handler: the 500 body mentions routeUpgrades", async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    app.use('/ws', owned(wstunnel(`${backend.origin}/`)));
    const port = await start(app, { routed: false });

    const warning = nextWarning('WSTUNNEL_UPGRADES_NOT_ROUTED');
    const refused = await upgrade(defer, port, '/ws/a');
    assert.equal(refused.status, 500);
    if (process.env['NODE_ENV'] !== 'production') assert.match(refused.body, /routeUpgrades/);
    await warning;
    assert.equal(backend.upgrades.length, 0);
  });

  test('close() drains: open tunnels keep flowing, newcomers get 503, close() resolves once they end', async () => {
    const backend = await startAppBackend(defer);
    const tunnel = owned(wstunnel(`${backend.origin}/`));
    const app = expressApp();
    app.use('/ws', tunnel);
    const port = await start(app);

    const client = await openWs(defer, port, '/ws/a');
    assert.equal(await echo(client, 'before'), 'before');
    assert.equal(tunnel.tunnel.openTunnels, 1);
    const started = Date.now();
    const closing = tunnel.close({ timeout: 10_000 });
    assert.equal((await upgrade(defer, port, '/ws/late')).status, 503);
    assert.equal((await get(port, '/ws/page')).status, 503);
    assert.equal(await echo(client, 'during'), 'during');
    client.close(1000);
    await closing;
    assert.ok(Date.now() - started < 5_000, 'close() waited for its deadline although the tunnel ended');
    assert.equal(tunnel.tunnel.size, 0);
    assert.equal(tunnel.tunnel.openTunnels, 0);
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/a'],
    );
  });

  test('await using drains the middleware when the block ends', {
    skip: !awaitUsingSupported && 'this Node cannot parse await using',
  }, async () => {
    const { inAwaitUsingBlock } = await import('./await-using.ts');
    const backend = await startAppBackend(defer);
    const app = expressApp();
    const port = await start(app);
    const tunnel = wstunnel(`${backend.origin}/`);
    app.use('/ws', tunnel);
    await inAwaitUsingBlock(tunnel, async () => {
      const client = await openWs(defer, port, '/ws/a');
      assert.equal(await echo(client, 'scoped'), 'scoped');
      const ended = once(client, 'close');
      client.close(1000);
      await ended;
    });
    assert.equal(tunnel.tunnel.closing, true);
    assert.equal(tunnel.tunnel.size, 0);
    assert.equal((await upgrade(defer, port, '/ws/after')).status, 503);
  });

  test('Symbol.asyncDispose (what await using calls) drains like close()', async () => {
    const backend = await startAppBackend(defer);
    const app = expressApp();
    const tunnel = wstunnel(`${backend.origin}/`);
    app.use('/ws', tunnel);
    const port = await start(app);
    const client = await openWs(defer, port, '/ws/a');
    assert.equal(await echo(client, 'scoped'), 'scoped');
    const disposing = tunnel[Symbol.asyncDispose]();
    assert.equal(tunnel.tunnel.closing, true);
    assert.equal(await echo(client, 'draining'), 'draining');
    client.close(1000);
    await disposing;
    assert.equal(tunnel.tunnel.size, 0);
    assert.equal((await upgrade(defer, port, '/ws/after')).status, 503);
  });

  test('a client resetting while the backend handshake is pending does not crash; counters return to 0', async () => {
    let headArrived!: () => void;
    const arrived = new Promise<void>((resolve) => {
      headArrived = resolve;
    });
    // A backend that takes the handshake and never answers it.
    const raw = await startRawBackend(() => headArrived());
    defer(() => raw.close());
    const backendSockets: Socket[] = [];
    raw.server.on('connection', (socket: Socket) => backendSockets.push(socket));
    const backend = await startAppBackend(defer);
    const slow = owned(wstunnel(`${raw.origin}/`));
    const app = expressApp();
    app.use('/slow', slow);
    app.use('/ws', owned(wstunnel(`${backend.origin}/`)));
    const port = await start(app);

    const failed = once(slow.tunnel, 'failed');
    const socket = await rawConnect(port);
    socket.on('error', () => undefined);
    socket.write(handshakeRequest('/slow/x', {}, port));
    await arrived;
    // The backend keeps its side half-open (allowHalfOpen): its connection ending is what shows wstunnel let go.
    const backendEnded = once(backendSockets[0]!, 'end');
    socket.resetAndDestroy();
    const [error] = (await failed) as [TunnelError];
    assert.equal(error.code, 'ERR_WSTUNNEL_CLIENT_GONE');
    await backendEnded;
    assert.equal(slow.tunnel.size, 0);
    assert.equal(slow.tunnel.openTunnels, 0);

    // The process and the server are still up.
    const client = await openWs(defer, port, '/ws/after');
    assert.equal(await echo(client, 'alive'), 'alive');
  });

  test('a client resetting while middleware before the tunnel is still running does not crash; counters stay 0', async () => {
    const backend = await startAppBackend(defer);
    const tunnel = owned(wstunnel(`${backend.origin}/`));
    let entered!: (socket: Socket) => void;
    const holding = new Promise<Socket>((resolve) => {
      entered = resolve;
    });
    const app = expressApp();
    app.use('/ws', async (req, _res, next) => {
      if (req.headers['x-slow'] === undefined) return next();
      // Slow middleware (a session store, say) that finishes only after the client has gone.
      const closed = new Promise((resolve) => req.socket.once('close', resolve));
      entered(req.socket as Socket);
      await closed;
      next();
    });
    app.use('/ws', tunnel);
    const port = await start(app);

    const failed = once(tunnel.tunnel, 'failed');
    const socket = await rawConnect(port);
    socket.on('error', () => undefined);
    socket.write(handshakeRequest('/ws/x', { 'x-slow': '1' }, port));
    await holding;
    socket.resetAndDestroy();
    const [error] = (await failed) as [TunnelError];
    assert.equal(error.code, 'ERR_WSTUNNEL_CLIENT_GONE');
    assert.equal(tunnel.tunnel.size, 0);
    assert.equal(tunnel.tunnel.openTunnels, 0);
    assert.equal(backend.upgrades.length, 0, 'a backend was dialled for a client that had already gone');

    const client = await openWs(defer, port, '/ws/after');
    assert.equal(await echo(client, 'alive'), 'alive');
  });
});
