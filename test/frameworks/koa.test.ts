// Why: Koa decides which requests reach a tunnel (middleware order, koa-mount, @koa/router, ctx.throw before it, its
// error handling and app 'error' event); WebSockets must follow the same routing as plain requests, on a fresh server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import Router from '@koa/router';
import { TunnelError } from '@wstunnel/core';
import { routeUpgrades, wstunnel } from '@wstunnel/koa';
import Koa from 'koa';
import mount from 'koa-mount';
import { deadPort } from '../helpers/net.ts';
import { checkHeadersFunction, checkRoomsRoute, checkUserTarget, frameworkSuite, urls } from './support.ts';

const { owned, start, startBackend } = frameworkSuite((app: Koa) => app.callback(), routeUpgrades);

type AppError = Error & { status?: number; code?: string; expose?: boolean };

/** A Koa app whose 'error' events are recorded (and not logged). */
function koaApp(): { app: Koa; appErrors: { error: AppError; ctx: Koa.Context | undefined }[] } {
  const app = new Koa();
  const appErrors: { error: AppError; ctx: Koa.Context | undefined }[] = [];
  app.on('error', (error: AppError, ctx?: Koa.Context) => appErrors.push({ error, ctx }));
  return { app, appErrors };
}

/** A fresh @koa/router with the routes `declare` adds, as middleware. */
function routes(declare: (router: Router) => unknown): Koa.Middleware {
  const router = new Router();
  declare(router);
  return router.routes() as Koa.Middleware;
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

// The rules form at app level, app.use(wstunnel({ rules })), is the conformance suite's Koa subject: WebSockets and
// plain requests through it, ordering, 404s passed on to a ws server, dot segments and draining are run there.
describe('Koa: where the tunnel sits', () => {
  test('an upgrade to a path no middleware answers gets the Koa app 404', async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(owned(wstunnel({ rules: [{ path: '/ws2/', target: `${backend.origin}/` }] })));
    const { echoing, upgrade } = await start(app);

    assert.deepEqual(await upgrade('/nope'), { status: 404, body: 'Not Found' });
    assert.equal(backend.upgrades.length, 0);
    await echoing('/ws2/after');
  });

  test('koa-mount strips its prefix: /ws2/a?x goes to /a?x, GET /ws2/page to /page, nested mounts too', async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(mount('/ws2', owned(wstunnel(backend.origin))));
    app.use(mount('/api', mount('/v1', owned(wstunnel(`${backend.origin}/stream`)))));
    const { echoing, get } = await start(app);

    await echoing('/ws2/a?x=1');
    await echoing('/api/v1/live');
    assert.equal((await get('/ws2/page')).body, 'plain /page');
    assert.deepEqual(urls(backend.upgrades), ['/a?x=1', '/stream/live']);
    for (const seen of [...backend.upgrades, ...backend.requests]) assert.doesNotMatch(seen.url, /ws2|api/);
    const posted = await get('/ws2/poll?sid=1', { 'content-type': 'text/plain' }, 'POST', 'payload=1');
    assert.equal(posted.body, 'plain POST /poll?sid=1 payload=1');
  });

  test("@koa/router: router.get('/rooms/:room', wstunnel(origin + '/r/$1'))", async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(routes((router) => router.get('/rooms/:room', owned(wstunnel(`${backend.origin}/r/$1`)))));
    await checkRoomsRoute(await start(app), backend);
  });

  test("@koa/router: router.get('/myApp/ws', wstunnel(origin + '/myApp/ws')) reaches /myApp/ws", async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(routes((router) => router.get('/myApp/ws', owned(wstunnel(`${backend.origin}/myApp/ws`)))));
    const { echoing, upgrade } = await start(app);

    // The Apache recipe `ProxyPass /myApp/ws ws://backend:9080/myApp/ws`, written as a route.
    await echoing('/myApp/ws');
    assert.deepEqual(urls(backend.upgrades), ['/myApp/ws']);
    assert.equal((await upgrade('/myApp/wsX')).status, 404);
  });

  test('a route that passed does not turn a later app-level tunnel into a whole-path route (/app/page reached /)', async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    // Takes upgrades only; a plain request passes on, with @koa/router's ctx._matchedRoute still set.
    const upgradesOnly = wstunnel(`${backend.origin}/app/$1`, { fallbackToHttp: false });
    app.use(routes((router) => router.all('/app/{*rest}', owned(upgradesOnly))));
    app.use(owned(wstunnel(`${backend.origin}/`)));
    const { echoing, get } = await start(app);

    assert.equal((await get('/app/page?q=1')).body, 'plain /app/page?q=1');
    await echoing('/app/chat');
    assert.deepEqual(urls(backend.upgrades), ['/app/chat']);
  });

  test('regex routes: ctx.captures are $1..$9', async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(routes((router) => router.get(/^\/(myApp)\/(ws)$/, owned(wstunnel(`${backend.origin}/$2/$1`)))));
    const { echoing } = await start(app);

    await echoing('/myApp/ws');
    assert.deepEqual(urls(backend.upgrades), ['/ws/myApp']);
  });

  test('fallbackToHttp: false under koa-mount: a plain GET goes on to the next middleware with its full ctx.url', async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(mount('/live', owned(wstunnel(`${backend.origin}/`, { fallbackToHttp: false }))));
    app.use((ctx) => {
      ctx.body = `app page ${ctx.url}`;
    });
    const { echoing, get } = await start(app);

    await echoing('/live/x');
    assert.equal((await get('/live/x')).body, 'app page /live/x');
    assert.equal(backend.requests.length, 0);
  });
});

describe('Koa: middleware before the tunnel and ctx.state', () => {
  test('auth middleware with ctx.throw(401/403) before the tunnel: the client gets that status, no 101', async () => {
    const backend = await startBackend();
    const { app, appErrors } = koaApp();
    app.use(async (ctx, next) => {
      const token = ctx.get('authorization');
      if (token === '') ctx.throw(401, 'log in first');
      if (token !== 'Bearer good') ctx.throw(403, 'forbidden');
      await next();
    });
    app.use(mount('/private', owned(wstunnel(`${backend.origin}/secret/`))));
    const { echoing, upgrade } = await start(app);

    assert.deepEqual(await upgrade('/private/feed'), { status: 401, body: 'log in first' });
    assert.deepEqual(await upgrade('/private/feed', { authorization: 'Bearer bad' }), {
      status: 403,
      body: 'forbidden',
    });
    assert.equal(backend.upgrades.length, 0);
    assert.deepEqual(
      appErrors.map(({ error }) => error.status),
      [401, 403],
    );
    await echoing('/private/feed', { authorization: 'Bearer good' });
    assert.deepEqual(urls(backend.upgrades), ['/secret/feed']);
  });

  test('ctx.state.user set by earlier middleware reaches the target and headers functions', async () => {
    const backend = await startBackend();
    const sessions = new Map([['s3cr3t', 'carol']]);
    const { app } = koaApp();
    app.use(async (ctx, next) => {
      const sid = ctx.cookies.get('sid');
      const user = sid === undefined ? undefined : sessions.get(sid);
      if (user === undefined) ctx.throw(401, 'no session');
      ctx.state['user'] = user;
      await next();
    });
    const tunnel = wstunnel((ctx) => `${backend.origin}/as/${ctx.state['user']}`, {
      headers: (ctx) => ({ 'x-user': String(ctx.state['user']), 'x-internal-secret': undefined }),
    });
    app.use(mount('/chat', owned(tunnel)));
    const served = await start(app);

    const plain = await checkHeadersFunction(served, backend, {
      ws: '/chat/general',
      plain: '/chat/menu',
      user: 'carol',
      headers: { cookie: 'theme=dark; sid=s3cr3t' },
    });
    assert.equal(plain.body, 'plain /as/carol/menu');
    assert.deepEqual(urls(backend.upgrades), ['/as/carol/general']);
    assert.equal((await served.upgrade('/chat/general', { cookie: 'sid=wrong' })).status, 401);
    assert.equal(backend.upgrades.length, 1);
  });

  test('@koa/router: a target function using ctx.params and ctx.state, with the route param as $1', async () => {
    const backend = await startBackend();
    const { app } = koaApp();
    app.use(async (ctx, next) => {
      ctx.state['user'] = ctx.get('x-token') || 'anonymous';
      await next();
    });
    const target = (ctx: Koa.Context): string => {
      const room = (ctx as Koa.Context & { params: Record<string, string> }).params['room'] ?? '';
      return `${backend.origin}/users/${ctx.state['user']}/$1?upper=${room.toUpperCase()}`;
    };
    app.use(routes((router) => router.get('/rooms/:room', owned(wstunnel(target)))));
    await checkUserTarget(
      await start(app),
      backend,
      { path: '/rooms/lobby', reaches: '/users/alice/lobby?upper=LOBBY' },
      { path: '/rooms/kitchen', reaches: '/users/bob/kitchen?upper=KITCHEN' },
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
    const { get } = await start(app);

    const plain = await get('/down/page');
    assert.deepEqual([plain.status, plain.body], [502, 'caught 502 ERR_WSTUNNEL_CONNECT']);
    assert.equal(caught.length, 1);
    assert.ok(caught[0] instanceof TunnelError);
  });

  test("a plain request to a down backend without error middleware: Koa answers 502 and app 'error' sees it", async () => {
    const port0 = await deadPort();
    const { app, appErrors } = koaApp();
    app.use(mount('/down', owned(wstunnel(`ws://127.0.0.1:${port0}/`))));
    const { get } = await start(app);

    assert.equal((await get('/down/page')).status, 502);
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
    const { upgrade } = await start(app);

    const reported = once(app, 'error');
    assert.equal((await upgrade('/down/ws')).status, 502);
    const [error, ctx] = (await reported) as [AppError, Koa.Context];
    assert.ok(error instanceof TunnelError);
    assert.equal(error.code, 'ERR_WSTUNNEL_CONNECT');
    assert.equal(error.status, 502);
    assert.equal(ctx.originalUrl, '/down/ws');
    assert.equal(appErrors.length, 1);
    assert.equal(tunnel.tunnel.size, 0);
  });

  test('a target function that throws: the error middleware sees ERR_WSTUNNEL_ROUTE_FUNCTION (500)', async () => {
    const backend = await startBackend();
    const caught: AppError[] = [];
    const boom = new Error('no such tenant');
    const tenantOf = (): never => {
      throw boom;
    };
    const { app } = koaApp();
    app.use(errorMiddleware(caught));
    app.use(mount('/ws', owned(wstunnel(tenantOf))));
    const { get, upgrade } = await start(app);

    assert.deepEqual(await upgrade('/ws/a'), {
      status: 500,
      body: 'caught 500 ERR_WSTUNNEL_ROUTE_FUNCTION',
    });
    assert.equal((await get('/ws/b')).status, 500);
    assert.deepEqual(
      caught.map((error) => error.cause),
      [boom, boom],
    );
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });

  test('headers returning a forbidden field (host): 500 through Koa error handling, no backend request', async () => {
    const backend = await startBackend();
    const { app, appErrors } = koaApp();
    app.use(
      mount('/ws', owned(wstunnel(`${backend.origin}/`, { headers: () => ({ host: 'evil.example' }) }))),
    );
    const { get, upgrade } = await start(app);

    assert.equal((await upgrade('/ws/a')).status, 500);
    assert.equal((await get('/ws/b')).status, 500);
    assert.deepEqual(
      appErrors.map(({ error }) => error.code),
      ['ERR_WSTUNNEL_ROUTE_FUNCTION', 'ERR_WSTUNNEL_ROUTE_FUNCTION'],
    );
    assert.equal(backend.upgrades.length + backend.requests.length, 0);
  });
});

// The 500 body and the process warning, and draining (close(), its deadline, await using) and a client resetting
// during the backend handshake, are the conformance suite's cases, run for Koa there.
describe('Koa: setup mistakes', () => {
  test("forgetting routeUpgrades: app 'error' gets ERR_WSTUNNEL_UPGRADE_NOT_ROUTED", async () => {
    const backend = await startBackend();
    const { app, appErrors } = koaApp();
    app.use(mount('/ws', owned(wstunnel(`${backend.origin}/`))));
    const { upgrade } = await start(app, { routed: false });

    assert.equal((await upgrade('/ws/a')).status, 500);
    assert.deepEqual(
      appErrors.map(({ error }) => error.code),
      ['ERR_WSTUNNEL_UPGRADE_NOT_ROUTED'],
    );
    assert.equal(backend.upgrades.length, 0);
  });
});
