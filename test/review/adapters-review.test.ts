// Why: review of the framework adapters (issue-4). Each test states the behaviour the docs promise and fails on
// the reviewed code; together they prove the defects listed in the review report. Fast, bounded, real sockets.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import * as expressTunnel from '@wstunnel/express';
import { wstunnel as fastifyTunnel } from '@wstunnel/fastify';
import * as koaTunnel from '@wstunnel/koa';
import express, { type ErrorRequestHandler, type Express } from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { type AppBackend, get, serve, startAppBackend, upgrade } from '../frameworks/support.ts';
import { startRawBackend } from '../helpers/backends.ts';
import { type Cleanup, cleanupAfterEach } from '../helpers/cleanup.ts';
import { handshakeRequest, rawConnect, rawExchange, readHead, statusOf } from '../helpers/net.ts';

const defer: (...cleanups: Cleanup[]) => void = cleanupAfterEach();

/** Drained at once after the test (registered after the server, so it runs before the server closes). */
function owned<T extends { close(options?: { timeout?: number }): Promise<void> }>(tunnel: T): T {
  defer(() => tunnel.close({ timeout: 0 }));
  return tunnel;
}

function expressApp(): Express {
  const app = express();
  app.set('env', 'test');
  return app;
}

async function startExpress(build: (app: Express) => void): Promise<number> {
  const app = expressApp();
  build(app);
  const { server, port } = await serve(defer, app);
  expressTunnel.routeUpgrades(server, app);
  return port;
}

async function startKoa(build: (app: Koa) => void): Promise<number> {
  const app = new Koa();
  app.silent = true;
  build(app);
  const { server, port } = await serve(defer, app.callback());
  koaTunnel.routeUpgrades(server, app);
  return port;
}

async function startFastify(options: Record<string, unknown>): Promise<number> {
  const app = Fastify();
  defer(() => app.close());
  await app.register(fastifyTunnel, { closeTimeout: 0, ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

const urls = (backend: AppBackend): string[] =>
  [...backend.upgrades, ...backend.requests].map((seen) => seen.url);

// U+010D U+010A are "č" and "Ċ": written as latin1 they become the bytes CR and LF.
const INJECTING_QUERY = '?name=bob%C4%8D%C4%8AX-Injected:%20yes';

describe('headers functions: no header injection into the backend handshake', () => {
  for (const kind of ['express', 'koa', 'fastify'] as const) {
    test(`${kind}: a value with U+010D U+010A does not become a new header line`, {
      timeout: 5_000,
    }, async () => {
      // The backend refuses every handshake, so nothing stays open; it records the head it received.
      const backend = await startRawBackend((socket) =>
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
      );
      defer(() => backend.close());
      const origin = `${backend.origin}/`;
      let port: number;
      if (kind === 'express') {
        port = await startExpress((app) =>
          app.use(
            '/t',
            owned(
              expressTunnel.wstunnel(origin, { headers: (req) => ({ 'x-user': String(req.query['name']) }) }),
            ),
          ),
        );
      } else if (kind === 'koa') {
        port = await startKoa((app) =>
          app.use(
            owned(
              koaTunnel.wstunnel(origin, { headers: (ctx) => ({ 'x-user': String(ctx.query['name']) }) }),
            ),
          ),
        );
      } else {
        port = await startFastify({
          prefix: '/t',
          target: origin,
          headers: (request: { query: Record<string, string> }) => ({ 'x-user': request.query['name'] }),
        });
      }
      await rawExchange(port, handshakeRequest(`/t/x${INJECTING_QUERY}`, {}, port));
      for (const head of backend.heads) assert.doesNotMatch(head, /^x-injected:/im, head);
    });
  }
});

describe('target functions: a decoded route parameter cannot move the backend path', () => {
  // The pattern of test/frameworks/express.test.ts "a target function sees req.params ...".
  async function roomsApp(backend: AppBackend): Promise<number> {
    return startExpress((app) =>
      app.use(
        '/rooms/:room',
        owned(expressTunnel.wstunnel((req) => `${backend.origin}/users/alice/rooms/${req.params['room']}`)),
      ),
    );
  }

  test('Express: /rooms/..%2F..%2Fadmin does not reach /users/admin (plain and upgrade)', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const port = await roomsApp(backend);
    await get(port, '/rooms/..%2F..%2Fadmin/secret');
    await upgrade(defer, port, '/rooms/..%2F..%2Fadmin');
    for (const url of urls(backend)) assert.match(url, /^\/users\/alice\/rooms\//, url);
  });

  // A function builds whatever URL it returns (a decoded "?" included): $1 is the form that encodes parameters.
  test('Express: with $1, /rooms/x%3Fdebug=1 does not add a query of its own', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startExpress((app) =>
      app.use('/rooms/:room', owned(expressTunnel.wstunnel(`${backend.origin}/users/alice/rooms/$1`))),
    );
    await get(port, '/rooms/x%3Fdebug=1/y');
    await upgrade(defer, port, '/rooms/x%3Fdebug=1');
    assert.equal(urls(backend).length, 2);
    for (const url of urls(backend)) assert.doesNotMatch(url, /\?debug=1/, url);
  });
});

describe('Express: how the route matched (RouteCall.matched, captures)', () => {
  test('a string route that called next() earlier does not make a later mount a whole-path route', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startExpress((app) => {
      app.all('/api/*splat', (_req, _res, next) => next()); // e.g. authentication for everything under /api
      app.use('/api', owned(expressTunnel.wstunnel(`${backend.origin}/`)));
    });
    assert.equal((await upgrade(defer, port, '/api/chat?x=1')).status, 101);
    assert.equal((await get(port, '/api/page?y=2')).body, 'plain /page?y=2');
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/chat?x=1'],
    );
  });

  test('a route with an array of string paths maps like a string route (target as written)', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startExpress((app) => {
      const tunnel = owned(expressTunnel.wstunnel(`${backend.origin}/app`));
      app.get('/single', tunnel);
      app.get(['/ws', '/socket'], tunnel);
    });
    assert.equal((await upgrade(defer, port, '/single')).status, 101);
    assert.equal((await upgrade(defer, port, '/ws')).status, 101);
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/app', '/app'],
    );
  });

  test('regex captures keep their order when a named group comes before an unnamed one', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startExpress((app) =>
      app.get(/^\/(?<room>[a-z]+)\/(\d+)$/, owned(expressTunnel.wstunnel(`${backend.origin}/$1/$2`))),
    );
    assert.equal((await upgrade(defer, port, '/lobby/42')).status, 101);
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      ['/lobby/42'],
    );
  });
});

describe('route parameters are percent-encoded for where they land (decoded params are not re-decoded)', () => {
  // Koa passes the raw captures and gets this right; Express and Fastify pass decoded params as if still encoded.
  const cases = [
    ['/rooms/%2541', '/r/%2541'], // a room literally named "%41" must not become "A" at the backend
    ['/rooms/a%2Fb', '/r/a%2Fb'], // one segment stays one segment
  ] as const;

  test('Express', { timeout: 5_000 }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startExpress((app) =>
      app.get('/rooms/:room', owned(expressTunnel.wstunnel(`${backend.origin}/r/$1`))),
    );
    for (const [path] of cases) assert.equal((await upgrade(defer, port, path)).status, 101);
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      cases.map(([, expected]) => expected),
    );
  });

  test('Fastify', { timeout: 5_000 }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startFastify({ prefix: '/rooms', target: `${backend.origin}/r/$1` });
    for (const [path] of cases) assert.equal((await upgrade(defer, port, path)).status, 101);
    assert.deepEqual(
      backend.upgrades.map((seen) => seen.url),
      cases.map(([, expected]) => expected),
    );
  });
});

describe('Koa', () => {
  test("a target function's own exception message is not sent to the client (5xx is not expose)", {
    timeout: 5_000,
  }, async () => {
    const port = await startKoa((app) =>
      app.use(
        owned(
          koaTunnel.wstunnel(() => {
            throw new Error('db password hunter2 at 10.0.0.5');
          }),
        ),
      ),
    );
    const reply = await get(port, '/x');
    assert.equal(reply.status, 500);
    assert.doesNotMatch(reply.body, /hunter2/);
  });

  test("a client reset on an open tunnel is not reported as an app 'error' (Koa is long done)", {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const errors: Error[] = [];
    let tunnel: koaTunnel.KoaTunnel | undefined;
    const port = await startKoa((app) => {
      app.on('error', (error: Error) => errors.push(error));
      tunnel = owned(koaTunnel.wstunnel(`${backend.origin}/`));
      app.use(tunnel);
    });
    const socket: Socket = await rawConnect(port);
    socket.on('error', () => undefined);
    socket.write(handshakeRequest('/chat', {}, port));
    assert.match((await readHead(socket)).head, /^HTTP\/1\.1 101/);
    const closed = new Promise<void>((resolve) => tunnel!.tunnel.once('close', () => resolve()));
    socket.resetAndDestroy();
    await closed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      errors.map((error) => error.message),
      [],
    );
  });
});

describe('routeUpgrades must not break ordinary requests that merely carry Upgrade', () => {
  test('a POST with Upgrade: h2c and a body to a plain route is still served', {
    timeout: 5_000,
  }, async () => {
    const app = expressApp();
    app.post('/api', express.text(), (req, res) => {
      res.send(`got ${req.body}`);
    });
    const { server, port } = await serve(defer, app);
    const request =
      'POST /api HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n' +
      'HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
    assert.equal(statusOf(await rawExchange(port, request)), 200); // without routeUpgrades
    expressTunnel.routeUpgrades(server, app);
    const answer = await rawExchange(port, request);
    assert.equal(statusOf(answer), 200, answer);
  });
});

describe('lesser: error attribution and request-target forms', () => {
  test('a headers value Node cannot send (non-latin1) on a plain request is the route function error (500), not "backend failed" (502)', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const errors: (Error & { status?: number; code?: string })[] = [];
    const port = await startExpress((app) => {
      app.use(
        '/t',
        owned(expressTunnel.wstunnel(`${backend.origin}/`, { headers: () => ({ 'x-user': 'caf\u20ac' }) })),
      );
      const onError: ErrorRequestHandler = (error, _req, res, _next) => {
        errors.push(error);
        res.status(error.status ?? 500).send('error');
      };
      app.use(onError);
    });
    await get(port, '/t/x');
    assert.deepEqual(
      errors.map((error) => [error.status, error.code]),
      [[500, 'ERR_WSTUNNEL_ROUTE_FUNCTION']],
    );
  });

  test('Fastify without prefix: an absolute-form request-target is not forwarded as a path ("/http://host/x")', {
    timeout: 5_000,
  }, async () => {
    const backend = await startAppBackend(defer);
    const port = await startFastify({ target: `${backend.origin}/root/` });
    await rawExchange(port, 'GET http://evil.example/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    for (const url of urls(backend)) assert.doesNotMatch(url, /http:/, url);
  });
});
