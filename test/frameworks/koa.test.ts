// Why: Koa decides which requests reach a tunnel (middleware order, koa-mount, @koa/router, ctx.throw before it, its
// error handling and app 'error' event); WebSockets must follow the same routing as plain requests, on a fresh server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import Router from '@koa/router';
import { TunnelError } from '@wstunnel/core';
import { routeUpgrades, wstunnel } from '@wstunnel/koa';
import Koa from 'koa';
import mount from 'koa-mount';
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

type AppError = Error & { status?: number; code?: string; expose?: boolean };

/** Listens with `app` on a fresh server and routes its upgrades through the app (the one setup line). */
async function start(app: Koa, { routed = true } = {}): Promise<number> {
  const { server, port } = await serve(defer, app.callback());
  if (routed) routeUpgrades(server, app);
  return port;
}

/** Drains a tunnel middleware after the test (at once), whatever the test left open. */
function owned<T extends { close(options?: { timeout?: number }): Promise<void> }>(tunnel: T): T {
  defer(() => tunnel.close({ timeout: 0 }));
  return tunnel;
}

/** A Koa app whose 'error' events are recorded (and not logged). */
function koaApp(): { app: Koa; appErrors: { error: AppError; ctx: Koa.Context | undefined }[] } {
  const app = new Koa();
  const appErrors: { error: AppError; ctx: Koa.Context | undefined }[] = [];
  app.on('error', (error: AppError, ctx?: Koa.Context) => appErrors.push({ error, ctx }));
  return { app, appErrors };
}

/** A try/catch error middleware that records what it caught and renders its own body. */
function errorMiddleware(caught: AppError[]): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const err = error as AppError;
      caught.push(err);
      ctx.status = err.status ?? 500;
      ctx.body = `caught ${err.status} ${err.code}`;
    }
  };
}

describe('Koa: where the tunnel sits', () => {
  test("app.use(wstunnel({ rules: [{ path: '/ws2/', target: origin + '/' }] })): WebSockets and plain requests", async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(owned(wstunnel({ rules: [{ path: '/ws2/', target: `${backend.origin}/` }] })));
    app.use(async (ctx, next) => {
      if (ctx.path === '/home') ctx.body = 'home page';
      else await next();
    });
    const port = await start(app);

    // The first WebSocket on the fresh server, no warm-up.
    const client = await openWs(defer, port, '/ws2/a/x?q=1');
    assert.equal(await echo(client, 'hello'), 'hello');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/a/x?q=1'],
    );
    assert.equal((await get(port, '/ws2/page')).body, 'plain /page');
    assert.equal((await get(port, '/home')).body, 'home page');
    assert.deepEqual(
      backend.requests.map((seen) => seen.url),
      ['/page'],
    );
  });

  test('an upgrade to a path no middleware answers gets the Koa app 404', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(owned(wstunnel({ rules: [{ path: '/ws2/', target: `${backend.origin}/` }] })));
    const port = await start(app);

    const miss = await upgrade(defer, port, '/nope');
    assert.equal(miss.status, 404);
    assert.equal(miss.body, 'Not Found');
    assert.equal(backend.upgrades.length, 0);
    const client = await openWs(defer, port, '/ws2/after');
    assert.equal(await echo(client, 'ok'), 'ok');
  });

  // The ws server's 101 must reach the client: a hang here (cut by the timeout) means it stayed in a corked socket.
  test('an upgrade the Koa app answers 404 goes on to another upgrade listener on the server (a ws server)', {
    timeout: 2_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(mount('/ws2', owned(wstunnel(`${backend.origin}/`))));
    const { server, port } = await serve(defer, app.callback());
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

  test('many WebSockets at once on a freshly started server all open', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(mount('/ws2', owned(wstunnel(`${backend.origin}/`))));
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

  test('koa-mount strips its prefix: /ws2/a?x goes to /a?x, GET /ws2/page to /page, nested mounts too', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(mount('/ws2', owned(wstunnel(backend.origin))));
    app.use(mount('/api', mount('/v1', owned(wstunnel(`${backend.origin}/stream`)))));
    const port = await start(app);

    const client = await openWs(defer, port, '/ws2/a?x=1');
    assert.equal(await echo(client, 'm'), 'm');
    const nested = await openWs(defer, port, '/api/v1/live');
    assert.equal(await echo(nested, 'n'), 'n');
    assert.equal((await get(port, '/ws2/page')).body, 'plain /page');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/a?x=1', '/stream/live'],
    );
    for (const seen of [...backend.upgrades, ...backend.requests]) assert.doesNotMatch(seen.url, /ws2|api/);
    const posted = await get(port, '/ws2/poll?sid=1', { 'content-type': 'text/plain' }, 'POST', 'payload=1');
    assert.equal(posted.body, 'plain POST /poll?sid=1 payload=1');
  });

  test("@koa/router: router.get('/rooms/:room', wstunnel(origin + '/r/$1'))", async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const router = new Router();
    router.get('/rooms/:room', owned(wstunnel(`${backend.origin}/r/$1`)));
    app.use(router.routes());
    const port = await start(app);

    const client = await openWs(defer, port, '/rooms/lobby');
    assert.equal(await echo(client, 'hi'), 'hi');
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

  test("@koa/router: router.get('/myApp/ws', wstunnel(origin + '/myApp/ws')) reaches /myApp/ws", async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const router = new Router();
    router.get('/myApp/ws', owned(wstunnel(`${backend.origin}/myApp/ws`)));
    app.use(router.routes());
    const port = await start(app);

    const client = await openWs(defer, port, '/myApp/ws');
    assert.equal(await echo(client, 'recipe'), 'recipe');
    // The Apache recipe `ProxyPass /myApp/ws ws://backend:9080/myApp/ws`, written as a route.
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/myApp/ws'],
    );
    assert.equal((await upgrade(defer, port, '/myApp/wsX')).status, 404);
  });

  test('a route that passed does not turn a later app-level tunnel into a whole-path route (/app/page reached /)', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const router = new Router();
    // Takes upgrades only; a plain request passes on, with @koa/router's ctx._matchedRoute still set.
    router.all('/app/{*rest}', owned(wstunnel(`${backend.origin}/app/$1`, { fallbackToHttp: false })));
    app.use(router.routes());
    app.use(owned(wstunnel(`${backend.origin}/`)));
    const port = await start(app);

    assert.equal((await get(port, '/app/page?q=1')).body, 'plain /app/page?q=1');
    const client = await openWs(defer, port, '/app/chat');
    assert.equal(await echo(client, 'hi'), 'hi');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/app/chat'],
    );
  });

  test('regex routes: ctx.captures are $1..$9', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const router = new Router();
    router.get(/^\/(myApp)\/(ws)$/, owned(wstunnel(`${backend.origin}/$2/$1`)));
    app.use(router.routes());
    const port = await start(app);

    const client = await openWs(defer, port, '/myApp/ws');
    assert.equal(await echo(client, 'hi'), 'hi');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/ws/myApp'],
    );
  });

  test('fallbackToHttp: false on a ws:// target: a plain GET goes on to the next middleware', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(mount('/live', owned(wstunnel(`${backend.origin}/`, { fallbackToHttp: false }))));
    app.use((ctx) => {
      ctx.body = `app page ${ctx.url}`;
    });
    const port = await start(app);

    const client = await openWs(defer, port, '/live/x');
    assert.equal(await echo(client, 'ws'), 'ws');
    assert.equal((await get(port, '/live/x')).body, 'app page /live/x');
    assert.equal(backend.requests.length, 0);
  });
});

describe('Koa: middleware before the tunnel and ctx.state', () => {
  test('auth middleware with ctx.throw(401/403) before the tunnel: the client gets that status, no 101', async () => {
    const backend = await startAppBackend(defer);
    const { app, appErrors } = koaApp();
    app.use(async (ctx, next) => {
      const token = ctx.get('authorization');
      if (token === '') ctx.throw(401, 'log in first');
      if (token !== 'Bearer good') ctx.throw(403, 'forbidden');
      await next();
    });
    app.use(mount('/private', owned(wstunnel(`${backend.origin}/secret/`))));
    const port = await start(app);

    assert.deepEqual(await upgrade(defer, port, '/private/feed'), { status: 401, body: 'log in first' });
    assert.deepEqual(await upgrade(defer, port, '/private/feed', { authorization: 'Bearer bad' }), {
      status: 403,
      body: 'forbidden',
    });
    assert.equal(backend.upgrades.length, 0);
    assert.deepEqual(
      appErrors.map(({ error }) => error.status),
      [401, 403],
    );
    const client = await openWs(defer, port, '/private/feed', { authorization: 'Bearer good' });
    assert.equal(await echo(client, 'in'), 'in');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/secret/feed'],
    );
  });

  test('ctx.state.user set by earlier middleware reaches the target and headers functions', async () => {
    const backend = await startAppBackend(defer);
    const sessions = new Map([['s3cr3t', 'carol']]);
    const { app } = koaApp();
    app.use(async (ctx, next) => {
      const sid = ctx.cookies.get('sid');
      const user = sid === undefined ? undefined : sessions.get(sid);
      if (user === undefined) ctx.throw(401, 'no session');
      ctx.state['user'] = user;
      await next();
    });
    app.use(
      mount(
        '/chat',
        owned(
          wstunnel((ctx) => `${backend.origin}/as/${ctx.state['user']}`, {
            headers: (ctx) => ({ 'x-user': String(ctx.state['user']), 'x-internal-secret': undefined }),
          }),
        ),
      ),
    );
    const port = await start(app);

    const headers = { cookie: 'theme=dark; sid=s3cr3t', 'x-internal-secret': 'leak', 'x-kept': 'yes' };
    const client = await openWs(defer, port, '/chat/general', headers);
    assert.equal(await echo(client, 'hello'), 'hello');
    assert.equal((await get(port, '/chat/menu', headers)).body, 'plain /as/carol/menu');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/as/carol/general'],
    );
    for (const seen of [backend.upgrades[0], backend.requests[0]]) {
      assert.ok(seen !== undefined);
      assert.equal(seen.headers['x-user'], 'carol');
      assert.equal(seen.headers['x-internal-secret'], undefined);
      assert.equal(seen.headers['x-kept'], 'yes');
    }
    assert.equal((await upgrade(defer, port, '/chat/general', { cookie: 'sid=wrong' })).status, 401);
    assert.equal(backend.upgrades.length, 1);
  });

  test('@koa/router: a target function using ctx.params and ctx.state, with the route param as $1', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(async (ctx, next) => {
      ctx.state['user'] = ctx.get('x-token') || 'anonymous';
      await next();
    });
    const router = new Router();
    router.get(
      '/rooms/:room',
      owned(
        wstunnel((ctx) => {
          const room = (ctx as Koa.Context & { params: Record<string, string> }).params['room'] ?? '';
          return `${backend.origin}/users/${ctx.state['user']}/$1?upper=${room.toUpperCase()}`;
        }),
      ),
    );
    app.use(router.routes());
    const port = await start(app);

    const client = await openWs(defer, port, '/rooms/lobby', { 'x-token': 'alice' });
    assert.equal(await echo(client, 'm'), 'm');
    assert.equal(
      (await get(port, '/rooms/kitchen', { 'x-token': 'bob' })).body,
      'plain /users/bob/kitchen?upper=KITCHEN',
    );
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/users/alice/lobby?upper=LOBBY'],
    );
  });
});

describe('Koa: errors', () => {
  test('a plain request to a down backend: a try/catch error middleware catches the 502', async () => {
    const port0 = await deadPort();
    const caught: AppError[] = [];
    const { app } = koaApp();
    app.use(errorMiddleware(caught));
    app.use(mount('/down', owned(wstunnel(`ws://127.0.0.1:${port0}/`))));
    const port = await start(app);

    const plain = await get(port, '/down/page');
    assert.equal(plain.status, 502);
    assert.equal(plain.body, 'caught 502 ERR_WSTUNNEL_CONNECT');
    assert.equal(caught.length, 1);
    assert.ok(caught[0] instanceof TunnelError);
  });

  test("a plain request to a down backend without error middleware: Koa answers 502 and app 'error' sees it", async () => {
    const port0 = await deadPort();
    const { app, appErrors } = koaApp();
    app.use(mount('/down', owned(wstunnel(`ws://127.0.0.1:${port0}/`))));
    const port = await start(app);

    const plain = await get(port, '/down/page');
    assert.equal(plain.status, 502);
    assert.equal(appErrors.length, 1);
    const { error, ctx } = appErrors[0]!;
    assert.ok(error instanceof TunnelError);
    assert.equal(error.status, 502);
    assert.equal(error.code, 'ERR_WSTUNNEL_CONNECT');
    assert.equal(ctx?.originalUrl, '/down/page');
  });

  test("a failed upgrade handshake (backend down) answers 502 and emits app 'error' with a TunnelError", async () => {
    const port0 = await deadPort();
    const { app, appErrors } = koaApp();
    const tunnel = owned(wstunnel(`ws://127.0.0.1:${port0}/`));
    app.use(mount('/down', tunnel));
    const port = await start(app);

    const reported = once(app, 'error');
    const refused = await upgrade(defer, port, '/down/ws');
    assert.equal(refused.status, 502);
    const [error, ctx] = (await reported) as [AppError, Koa.Context];
    assert.ok(error instanceof TunnelError);
    assert.equal(error.code, 'ERR_WSTUNNEL_CONNECT');
    assert.equal(error.status, 502);
    assert.equal(ctx.originalUrl, '/down/ws');
    assert.equal(appErrors.length, 1);
    assert.equal(tunnel.tunnel.size, 0);
  });

  test('a target function that throws: the error middleware sees ERR_WSTUNNEL_ROUTE_FUNCTION (500)', async () => {
    const backend = await startAppBackend(defer);
    const caught: AppError[] = [];
    const boom = new Error('no such tenant');
    const { app } = koaApp();
    app.use(errorMiddleware(caught));
    app.use(
      mount(
        '/ws',
        owned(
          wstunnel(() => {
            throw boom;
          }),
        ),
      ),
    );
    const port = await start(app);

    assert.deepEqual(await upgrade(defer, port, '/ws/a'), {
      status: 500,
      body: 'caught 500 ERR_WSTUNNEL_ROUTE_FUNCTION',
    });
    assert.equal((await get(port, '/ws/b')).status, 500);
    assert.equal(caught.length, 2);
    for (const error of caught) assert.equal((error as Error & { cause?: unknown }).cause, boom);
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });

  test('headers returning a forbidden field (host): 500 through Koa error handling, no backend request', async () => {
    const backend = await startAppBackend(defer);
    const { app, appErrors } = koaApp();
    app.use(
      mount('/ws', owned(wstunnel(`${backend.origin}/`, { headers: () => ({ host: 'evil.example' }) }))),
    );
    const port = await start(app);

    const refused = await upgrade(defer, port, '/ws/a');
    assert.equal(refused.status, 500);
    assert.equal((await get(port, '/ws/b')).status, 500);
    assert.deepEqual(
      appErrors.map(({ error }) => error.code),
      ['ERR_WSTUNNEL_ROUTE_FUNCTION', 'ERR_WSTUNNEL_ROUTE_FUNCTION'],
    );
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });

  test('a path with dot segments under a mount is refused with 400 (raw upgrade, not normalised by a client)', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    app.use(mount('/ws2', owned(wstunnel(`${backend.origin}/`))));
    const port = await start(app);

    const response = await rawExchange(port, handshakeRequest('/ws2/a/%2e%2e/admin', {}, port));
    assert.equal(statusOf(response), 400);
    assert.equal(backend.upgrades.length, 0);
  });
});

describe('Koa: setup mistakes and lifecycle', () => {
  test('forgetting routeUpgrades: the upgrade gets a 500 naming routeUpgrades, and a process warning', async () => {
    const backend = await startAppBackend(defer);
    const { app, appErrors } = koaApp();
    app.use(mount('/ws', owned(wstunnel(`${backend.origin}/`))));
    const port = await start(app, { routed: false });

    const warning = nextWarning('WSTUNNEL_UPGRADES_NOT_ROUTED');
    const refused = await upgrade(defer, port, '/ws/a');
    assert.equal(refused.status, 500);
    assert.match(refused.body, /routeUpgrades/);
    assert.match((await warning).message, /routeUpgrades/);
    assert.equal(appErrors[0]?.error.code, 'ERR_WSTUNNEL_UPGRADE_NOT_ROUTED');
    assert.equal(backend.upgrades.length, 0);
  });

  test('close() drains: open tunnels keep flowing, newcomers get 503, close() resolves once they end', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const tunnel = owned(wstunnel(`${backend.origin}/`));
    app.use(mount('/ws', tunnel));
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
  });

  test('close() ends tunnels still open at its deadline', async () => {
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const tunnel = owned(wstunnel(`${backend.origin}/`));
    app.use(mount('/ws', tunnel));
    const port = await start(app);

    const client = await openWs(defer, port, '/ws/a');
    const ended = once(client, 'close');
    await tunnel.close({ timeout: 50 });
    await ended;
    assert.equal(tunnel.tunnel.size, 0);
  });

  test('await using drains the middleware when the block ends', {
    skip: !awaitUsingSupported && 'this Node cannot parse await using',
  }, async () => {
    const { inAwaitUsingBlock } = await import('./await-using.ts');
    const backend = await startAppBackend(defer);
    const { app } = koaApp();
    const tunnel = wstunnel(`${backend.origin}/`);
    app.use(mount('/ws', tunnel));
    const port = await start(app);
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
    const { app } = koaApp();
    const slow = owned(wstunnel(`${raw.origin}/`));
    app.use(mount('/slow', slow));
    app.use(mount('/ws', owned(wstunnel(`${backend.origin}/`))));
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

    const client = await openWs(defer, port, '/ws/after');
    assert.equal(await echo(client, 'alive'), 'alive');
  });
});
