// Why: Express decides which requests reach a tunnel (mounts, routers, regex and param routes, the middleware before
// it, its error handlers); WebSockets must follow the same routing as plain requests, on a freshly started server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { TunnelError } from '@wstunnel/core';
import { type ExpressTargetOptions, routeUpgrades, wstunnel } from '@wstunnel/express';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import { deadPort, handshakeRequest, rawConnect, rawExchange, statusOf } from '../helpers/net.ts';
import { checkHeadersFunction, checkRoomsRoute, checkUserTarget, frameworkSuite, urls } from './support.ts';

const { owned, start, startBackend } = frameworkSuite((app: Express) => app, routeUpgrades);

/** What an app's middleware put on the request before the tunnel. */
type AuthedRequest = Request & { user?: string };

const userOf = (req: Request): string => (req as AuthedRequest).user ?? '-';

/** An app whose default error handler does not log every 4xx/5xx to stderr (Express's 'test' env). */
function expressApp(): Express {
  const app = express();
  app.set('env', 'test');
  return app;
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
  // app.use('/ws/', wstunnel(origin + '/')) itself, for WebSockets and plain requests (POST bodies too), is the
  // conformance suite's Express subject.
  test("app.use('/ws2', wstunnel(origin)) without slashes maps the same way", async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.use('/ws2', owned(wstunnel(backend.origin)));
    const { echoing, get } = await start(app);

    await echoing('/ws2/chat?room=1');
    await echoing('/ws2');
    assert.equal((await get('/ws2/page?x=1')).body, 'plain /page?x=1');
    assert.deepEqual(urls(backend.upgrades), ['/chat?room=1', '/']);
  });

  test('nested express.Router mounts strip every level', async () => {
    const backend = await startBackend();
    const inner = express.Router();
    inner.use('/live', owned(wstunnel(`${backend.origin}/stream`)));
    const outer = express.Router();
    outer.use('/v1', inner);
    const app = expressApp();
    app.use('/api', outer);
    const { echoing, get, upgrade } = await start(app);

    await echoing('/api/v1/live/feed?since=3');
    assert.equal((await get('/api/v1/live/status')).body, 'plain /stream/status');
    assert.deepEqual(urls(backend.upgrades), ['/stream/feed?since=3']);
    assert.equal((await upgrade('/api/v2/live/feed')).status, 404);
    assert.equal(backend.upgrades.length, 1);
  });
});

describe('Express: what the app does around the mount', () => {
  test('middleware that rewrites req.url before the tunnel is followed', async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.use((req, _res, next) => {
      if (req.url.startsWith('/legacy/')) req.url = `/ws2/${req.url.slice('/legacy/'.length)}`;
      next();
    });
    app.use('/ws2', owned(wstunnel(`${backend.origin}/new/`)));
    const { echoing, get } = await start(app);

    await echoing('/legacy/chat?x=1');
    assert.equal((await get('/legacy/page')).body, 'plain /new/page');
    assert.deepEqual(urls(backend.upgrades), ['/new/chat?x=1']);
  });

  test('a path with dot segments reaches the error middleware through next(err) as ERR_WSTUNNEL_BAD_REQUEST', async () => {
    const backend = await startBackend();
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    app.use('/ws2', owned(wstunnel(`${backend.origin}/`)));
    app.use(handler);
    const { port } = await start(app);

    // Raw upgrades: a client would normalise the path. The 400 itself is the conformance suite's, for every subject.
    const answers: [number, string][] = [];
    for (const path of ['/ws2/a/%2e%2e/admin', '/ws2/a/../admin', '/ws2/..%2fadmin']) {
      const response = await rawExchange(port, handshakeRequest(path, {}, port));
      answers.push([statusOf(response), response.slice(response.indexOf('\r\n\r\n') + 4)]);
    }
    assert.deepEqual(answers, Array(3).fill([400, 'app error 400 ERR_WSTUNNEL_BAD_REQUEST']));
    assert.deepEqual(
      errors.map((error) => error.code),
      Array(3).fill('ERR_WSTUNNEL_BAD_REQUEST'),
    );
    assert.equal(backend.upgrades.length, 0);
  });
});

describe('Express: routes and their parameters', () => {
  test('a regex route with $1 reaches /myApp/ws, and /myApp/wsX does not match (404)', async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.get(/^\/(myApp\/ws)$/, owned(wstunnel(`${backend.origin}/$1`)));
    const { echoing, upgrade } = await start(app);

    await echoing('/myApp/ws');
    assert.deepEqual(urls(backend.upgrades), ['/myApp/ws']);
    assert.equal((await upgrade('/myApp/wsX')).status, 404);
    assert.equal(backend.upgrades.length, 1);
  });

  test("an exact route with a URL target: app.get('/myApp/ws', wstunnel(origin + '/myApp/ws')) reaches /myApp/ws", async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.get('/myApp/ws', owned(wstunnel(`${backend.origin}/myApp/ws`)));
    const { echoing } = await start(app);

    // The Apache recipe `ProxyPass /myApp/ws ws://backend:9080/myApp/ws`, written as a route.
    await echoing('/myApp/ws');
    assert.deepEqual(urls(backend.upgrades), ['/myApp/ws']);
  });

  test("named params: app.get('/rooms/:room', wstunnel(origin + '/r/$1'))", async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.get('/rooms/:room', owned(wstunnel(`${backend.origin}/r/$1`)));
    await checkRoomsRoute(await start(app), backend);
  });

  test("a wildcard route's $1 (Express 5 gives *rest as an array) reaches the backend instead of a 500", async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.all('/files/*rest', owned(wstunnel(`${backend.origin}/f/$1`)));
    const { echoing, get } = await start(app);

    await echoing('/files/a/b%20c');
    assert.equal((await get('/files/x/y')).body, 'plain /f/x/y');
    assert.deepEqual(urls(backend.upgrades), ['/f/a/b%20c']);
  });

  test('a target function sees req.params and what earlier middleware set (req.user)', async () => {
    const backend = await startBackend();
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
    await checkUserTarget(
      await start(app),
      backend,
      { path: '/rooms/lobby/feed', reaches: '/users/alice/rooms/lobby/feed' },
      { path: '/rooms/kitchen/menu', reaches: '/users/bob/rooms/kitchen/menu' },
    );
  });

  test('session/cookie: a cookie-parsing middleware sets req.user and the target function uses it', async () => {
    const backend = await startBackend();
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
    const { echoing, upgrade } = await start(app);

    await echoing('/chat/general', { cookie: 'theme=dark; sid=s3cr3t' });
    assert.deepEqual(urls(backend.upgrades), ['/as/carol/general']);
    const anonymous = await upgrade('/chat/general', { cookie: 'sid=wrong' });
    assert.deepEqual(anonymous, { status: 401, body: 'no session' });
    assert.equal(backend.upgrades.length, 1);
  });
});

describe('Express: headers functions', () => {
  test('headers adds x-user from req.user and removes a field, for WebSockets and plain requests', async () => {
    const backend = await startBackend();
    const app = expressApp();
    app.use((req, _res, next) => {
      (req as AuthedRequest).user = 'dave';
      next();
    });
    const headers: ExpressTargetOptions['headers'] = (req) => ({
      'x-user': userOf(req),
      'x-internal-secret': undefined,
    });
    app.use('/ws', owned(wstunnel(`${backend.origin}/`, { headers })));
    const served = await start(app);

    const plain = await checkHeadersFunction(served, backend, { ws: '/ws/a', plain: '/ws/b', user: 'dave' });
    assert.equal(plain.body, 'plain /b');
  });

  test('headers returning a forbidden field (host) answers 500 through next(err), with no backend request', async () => {
    const backend = await startBackend();
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    app.use('/ws', owned(wstunnel(`${backend.origin}/`, { headers: () => ({ host: 'evil.example' }) })));
    app.use(handler);
    const { get, upgrade } = await start(app);

    assert.deepEqual(await upgrade('/ws/a'), {
      status: 500,
      body: 'app error 500 ERR_WSTUNNEL_ROUTE_FUNCTION',
    });
    assert.equal((await get('/ws/b')).status, 500);
    assert.equal(errors.length, 2);
    for (const error of errors) {
      assert.ok(error instanceof TunnelError);
      assert.equal(error.code, 'ERR_WSTUNNEL_ROUTE_FUNCTION');
      assert.match(error.message, /host/i);
    }
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });

  test('a target function that throws reaches the app error middleware (err.code ERR_WSTUNNEL_ROUTE_FUNCTION)', async () => {
    const backend = await startBackend();
    const { handler, errors } = errorRecorder();
    const boom = new Error('no such tenant');
    const tenantOf = (): never => {
      throw boom;
    };
    const app = expressApp();
    app.use('/ws', owned(wstunnel(tenantOf)));
    app.use(handler);
    const { get, upgrade } = await start(app);

    const refused = await upgrade('/ws/a');
    assert.deepEqual(refused, { status: 500, body: 'app error 500 ERR_WSTUNNEL_ROUTE_FUNCTION' });
    assert.equal((await get('/ws/b')).status, 500);
    assert.deepEqual(
      errors.map((error) => [error.code, error.status, error.cause]),
      Array(2).fill(['ERR_WSTUNNEL_ROUTE_FUNCTION', 500, boom]),
    );
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });
});

// A WebSocket-only route (fallbackToHttp: false) before an HTTP route, and auth middleware answering 401/403 before
// the tunnel, are the conformance suite's ordering and auth cases, run for Express there.
describe('Express: order and the middleware around the tunnel', () => {
  test('WebSocket routes declared before HTTP routes: /app/ws tunnels, the rest of /app goes to the HTTP proxy', async () => {
    const wsBackend = await startBackend();
    const httpBackend = await startBackend();
    const app = expressApp();
    app.get('/app/ws', owned(wstunnel(`${wsBackend.origin}/socket/$0`)));
    app.use('/app', owned(wstunnel(`${httpBackend.httpOrigin}/`)));
    const { echoing, get } = await start(app);

    await echoing('/app/ws');
    assert.equal((await get('/app/index.html')).body, 'plain /index.html');
    assert.equal(wsBackend.upgrades.length, 1);
    assert.equal(httpBackend.upgrades.length, 0);
    assert.deepEqual(urls(httpBackend.requests), ['/index.html']);
  });

  test('declared the other way round, the HTTP proxy takes /app/ws first (as plain HTTP, no 101)', async () => {
    const wsBackend = await startBackend();
    const httpBackend = await startBackend();
    const app = expressApp();
    app.use('/app', owned(wstunnel(`${httpBackend.httpOrigin}/`)));
    app.get('/app/ws', owned(wstunnel(`${wsBackend.origin}/socket/$0`)));
    const { upgrade } = await start(app);

    assert.deepEqual(await upgrade('/app/ws'), { status: 200, body: 'plain /ws' });
    assert.equal(wsBackend.upgrades.length, 0);
    assert.equal(httpBackend.upgrades.length, 0);
    assert.equal(httpBackend.requests[0]?.headers.upgrade, undefined);
  });

  test('a plain request to a down backend reaches the error middleware as next(err) with status 502', async () => {
    const port0 = await deadPort();
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    const tunnel = owned(wstunnel(`ws://127.0.0.1:${port0}/`));
    app.use('/down', tunnel);
    app.use(handler);
    const { get, upgrade } = await start(app);

    const plain = await get('/down/page');
    assert.deepEqual([plain.status, plain.body], [502, 'app error 502 ERR_WSTUNNEL_CONNECT']);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof TunnelError);
    assert.equal(errors[0].status, 502);

    // An upgrade's handshake failure is answered by the core on the socket, not through next(err).
    const failed = once(tunnel.tunnel, 'failed');
    assert.equal((await upgrade('/down/ws')).status, 502);
    const [error] = (await failed) as [TunnelError];
    assert.equal(error.code, 'ERR_WSTUNNEL_CONNECT');
    assert.equal(errors.length, 1);
    assert.equal(tunnel.tunnel.size, 0);
  });

  test('two wstunnel middlewares in one app: the first passes (no rule / exclusion), the second takes', async () => {
    const first = await startBackend();
    const second = await startBackend();
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
    const { echoing, get } = await start(app);

    await echoing('/svc/private/x');
    await echoing('/feed/y');
    await echoing('/svc/public/z');
    assert.equal((await get('/svc/private/page')).body, 'plain /p/page');
    assert.deepEqual(urls(second.upgrades), ['/p/x', '/f/y']);
    assert.deepEqual(urls(first.upgrades), ['/public/z']);
    assert.equal(first.requests.length, 0);
  });
});

// The 500 with Express's default error handler, draining (close(), await using) and a client resetting during the
// backend handshake are the conformance suite's cases, run for Express there.
describe('Express: setup mistakes and lifecycle', () => {
  test('forgetting routeUpgrades: the error middleware gets ERR_WSTUNNEL_UPGRADE_NOT_ROUTED naming routeUpgrades', async () => {
    const backend = await startBackend();
    const { handler, errors } = errorRecorder();
    const app = expressApp();
    app.use('/ws', owned(wstunnel(`${backend.origin}/`)));
    app.use(handler);
    const { upgrade } = await start(app, { routed: false });

    const refused = await upgrade('/ws/a');
    assert.deepEqual(refused, { status: 500, body: 'app error 500 ERR_WSTUNNEL_UPGRADE_NOT_ROUTED' });
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /routeUpgrades\(server, app\)/);
    assert.equal(backend.upgrades.length, 0);
  });

  test('a client resetting while middleware before the tunnel is still running does not crash; counters stay 0', async () => {
    const backend = await startBackend();
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
    const { port, echoing } = await start(app);

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

    await echoing('/ws/after');
  });
});
