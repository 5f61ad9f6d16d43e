// Why: the Fastify plugin is the only adapter that bridges upgrades itself; prefix stripping, encapsulation, hooks,
// the error handler, request.log, close() and @fastify/websocket next door must all hold on real sockets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { test } from 'node:test';
import fastifyWebsocket from '@fastify/websocket';
import { TunnelError, Wstunnel } from '@wstunnel/core';
import { tunnelsOf, wstunnel } from '@wstunnel/fastify';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { WebSocket, WebSocketServer } from 'ws';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { closed, openClient, roundTrip } from '../helpers/gateway.ts';
import { deadPort } from '../helpers/net.ts';

const defer = cleanupAfterEach();

/** A plain request the backend received. */
interface PlainSeen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** An HTTP server that answers plain requests and echoes WebSockets, recording both. */
interface Backend {
  readonly origin: string;
  readonly upgrades: IncomingMessage[];
  readonly plain: PlainSeen[];
  /** TCP connections accepted so far. */
  connections: number;
  readonly wss: WebSocketServer;
}

async function startBackend(): Promise<Backend> {
  const plain: PlainSeen[] = [];
  const upgrades: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      plain.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { allow: 'GET, HEAD, OPTIONS, POST', 'x-backend': 'yes' });
        res.end();
        return;
      }
      const answer = JSON.stringify({ method: req.method, url: req.url, bytes: body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': 'yes' });
      res.end(answer);
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    upgrades.push(req);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const backend: Backend = {
    origin: `ws://127.0.0.1:${address.port}`,
    upgrades,
    plain,
    connections: 0,
    wss,
  };
  server.on('connection', () => backend.connections++);
  defer(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return backend;
}

/** A listening Fastify instance; close() is idempotent and also runs after the test. */
interface App {
  readonly app: FastifyInstance;
  readonly port: number;
  ws(path: string): string;
  close(): Promise<void>;
}

async function startApp(
  build: (app: FastifyInstance) => void | Promise<void>,
  options: FastifyServerOptions = {},
): Promise<App> {
  const app = Fastify(options);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= app.close();
    return closing;
  };
  defer(close);
  await build(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const port = address.port;
  return { app, port, ws: (path) => `ws://127.0.0.1:${port}${path}`, close };
}

/** Opens a client that is terminated after the test (before the app closes). */
async function client(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const socket = await openClient(url, undefined, { headers });
  defer(() => socket.terminate());
  return socket;
}

/** Attempts a WebSocket handshake that must be refused; resolves with the HTTP answer. */
function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const socket = new WebSocket(url, { headers });
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.terminate();
      reject(new Error(`the upgrade to ${url} was accepted`));
    });
    socket.once('error', (error) => reject(error));
    socket.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      const done = (): void => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
        socket.terminate();
      };
      res.once('end', done);
      res.once('aborted', done);
    });
  });
}

/** One plain HTTP exchange on a fresh connection. */
function request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | number> = {},
  body?: Buffer | string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

type WithUser = FastifyRequest & { user: string | null };

test('prefix: /ws2/a?q reaches the backend as /a?q, for a WebSocket and for plain HTTP', async () => {
  const backend = await startBackend();
  const { ws, port } = await startApp((app) => {
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });
  const socket = await client(ws('/ws2/a?q=1&r=two'));
  assert.equal((await roundTrip(socket, 'hello')).data.toString(), 'hello');
  assert.equal(backend.upgrades.length, 1);
  assert.equal(backend.upgrades[0]?.url, '/a?q=1&r=two');

  const res = await request(port, 'GET', '/ws2/a?q=1&r=two');
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-backend'], 'yes');
  assert.deepEqual(JSON.parse(res.body.toString()), { method: 'GET', url: '/a?q=1&r=two', bytes: 0 });
  assert.equal(backend.plain.at(-1)?.url, '/a?q=1&r=two');
});

test('rules form without a prefix: ^/(myApp/ws)$ -> target/$1; a path no rule takes gets Fastify 404', async () => {
  const backend = await startBackend();
  const { ws } = await startApp((app) => {
    app.register(wstunnel, { rules: [{ match: '^/(myApp/ws)$', target: `${backend.origin}/$1` }] });
  });
  const socket = await client(ws('/myApp/ws'));
  assert.equal((await roundTrip(socket, 'rules')).data.toString(), 'rules');
  assert.equal(backend.upgrades[0]?.url, '/myApp/ws');

  const refused = await refusedUpgrade(ws('/myApp/other'));
  assert.equal(refused.status, 404);
  assert.match(refused.body, /Route GET:\/myApp\/other not found/);
  assert.equal(backend.upgrades.length, 1);
});

test('two registrations with different prefixes on one instance both work', async () => {
  const first = await startBackend();
  const second = await startBackend();
  const { ws, port } = await startApp((app) => {
    app.register(wstunnel, { prefix: '/one', target: `${first.origin}/first/` });
    app.register(wstunnel, { prefix: '/two', target: `${second.origin}/second/` });
  });
  const a = await client(ws('/one/x'));
  const b = await client(ws('/two/y'));
  assert.equal((await roundTrip(a, 'to one')).data.toString(), 'to one');
  assert.equal((await roundTrip(b, 'to two')).data.toString(), 'to two');
  assert.deepEqual(
    first.upgrades.map((req) => req.url),
    ['/first/x'],
  );
  assert.deepEqual(
    second.upgrades.map((req) => req.url),
    ['/second/y'],
  );

  assert.equal((await request(port, 'GET', '/one/p')).status, 200);
  assert.equal((await request(port, 'GET', '/two/q')).status, 200);
  assert.deepEqual(
    first.plain.map((seen) => seen.url),
    ['/first/p'],
  );
  assert.deepEqual(
    second.plain.map((seen) => seen.url),
    ['/second/q'],
  );
});

test('encapsulation: a hook added inside a sibling plugin does not apply to the tunnel', async () => {
  const backend = await startBackend();
  let siblingHookCalls = 0;
  const { ws, port } = await startApp((app) => {
    app.register(async (sibling) => {
      sibling.addHook('onRequest', async (_request, reply) => {
        siblingHookCalls++;
        return reply.code(418).send({ sibling: true });
      });
      sibling.get('/sibling', async () => 'unreachable');
    });
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });
  const socket = await client(ws('/ws2/s'));
  assert.equal((await roundTrip(socket, 'not blocked')).data.toString(), 'not blocked');
  assert.equal((await request(port, 'GET', '/ws2/plain')).status, 200);
  assert.equal(siblingHookCalls, 0, 'the sibling plugin hook ran for the tunnel');
  // The hook does work where it belongs.
  assert.equal((await request(port, 'GET', '/sibling')).status, 418);
  assert.equal(siblingHookCalls, 1);
});

test('a parent onRequest hook declared before register runs for upgrades and can answer 401/403', async () => {
  const backend = await startBackend();
  const seen: string[] = [];
  const { ws } = await startApp((app) => {
    app.addHook('onRequest', async (request, reply) => {
      seen.push(request.url);
      const token = request.headers.authorization;
      if (token === undefined)
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'login first' });
      if (token !== 'Bearer good') return reply.code(403).send({ error: 'forbidden' });
      return undefined;
    });
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });

  const anonymous = await refusedUpgrade(ws('/ws2/private'));
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
  assert.deepEqual(JSON.parse(anonymous.body), { error: 'login first' });

  const wrong = await refusedUpgrade(ws('/ws2/private'), { authorization: 'Bearer bad' });
  assert.equal(wrong.status, 403);
  assert.deepEqual(JSON.parse(wrong.body), { error: 'forbidden' });

  assert.equal(backend.connections, 0, 'the backend was contacted for a refused upgrade');
  assert.equal(backend.upgrades.length, 0);

  const socket = await client(ws('/ws2/private'), { authorization: 'Bearer good' });
  assert.equal((await roundTrip(socket, 'authorised')).data.toString(), 'authorised');
  assert.equal(backend.upgrades.length, 1);
  assert.deepEqual(seen, ['/ws2/private', '/ws2/private', '/ws2/private'], 'one hook run per upgrade');
});

test('a parent preHandler hook also runs for upgrades (and can refuse them)', async () => {
  const backend = await startBackend();
  const seen: string[] = [];
  const { ws } = await startApp((app) => {
    app.addHook('preHandler', async (request, reply) => {
      seen.push(request.url);
      if (request.headers['x-deny'] !== undefined) return reply.code(403).send('denied by preHandler');
      return undefined;
    });
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });
  const refused = await refusedUpgrade(ws('/ws2/p'), { 'x-deny': '1' });
  assert.equal(refused.status, 403);
  assert.equal(refused.body, 'denied by preHandler');
  assert.equal(backend.connections, 0);

  const socket = await client(ws('/ws2/p'));
  assert.equal((await roundTrip(socket, 'pre')).data.toString(), 'pre');
  assert.deepEqual(seen, ['/ws2/p', '/ws2/p']);
});

test('target and headers functions receive the Fastify request (a decoration set in onRequest)', async () => {
  const backend = await startBackend();
  const targetArgs: unknown[] = [];
  const headerArgs: unknown[] = [];
  const { ws, port } = await startApp((app) => {
    app.decorateRequest('user', null);
    app.addHook('onRequest', async (request) => {
      const user = request.headers['x-login'];
      (request as WithUser).user = typeof user === 'string' ? user : null;
    });
    app.register(wstunnel, {
      prefix: '/ws2',
      target: (request) => {
        targetArgs.push(request);
        return `${backend.origin}/users/${(request as WithUser).user}/`;
      },
      headers: (request) => {
        headerArgs.push(request);
        return { 'x-authenticated-user': (request as WithUser).user ?? undefined };
      },
    });
  });
  const socket = await client(ws('/ws2/room?x=1'), { 'x-login': 'alice' });
  assert.equal((await roundTrip(socket, 'hi alice')).data.toString(), 'hi alice');
  assert.equal(backend.upgrades[0]?.url, '/users/alice/room?x=1');
  assert.equal(backend.upgrades[0]?.headers['x-authenticated-user'], 'alice');

  const res = await request(port, 'GET', '/ws2/inbox', { 'x-login': 'bob' });
  assert.equal(res.status, 200);
  assert.equal(backend.plain.at(-1)?.url, '/users/bob/inbox');
  assert.equal(backend.plain.at(-1)?.headers['x-authenticated-user'], 'bob');

  assert.ok(targetArgs.length >= 2 && headerArgs.length >= 2);
  for (const arg of [...targetArgs, ...headerArgs]) {
    const req = arg as FastifyRequest;
    assert.equal(typeof req.id, 'string', 'not a Fastify request');
    assert.ok(req.raw !== undefined && req.log !== undefined, 'not a Fastify request');
  }
});

const invalidOptions: [string, Record<string, unknown>, string][] = [
  ['an ftp:// target', { target: 'ftp://x' }, 'ERR_WSTUNNEL_INVALID_TARGET'],
  ['neither target nor rules', {}, 'ERR_WSTUNNEL_INVALID_OPTION'],
  [
    'both target and rules',
    { target: 'ws://127.0.0.1:9/', rules: [{ path: '/', target: 'ws://127.0.0.1:9/' }] },
    'ERR_WSTUNNEL_INVALID_OPTION',
  ],
];

for (const [name, options, code] of invalidOptions) {
  test(`options are validated at registration (${name}): register and ready reject with ${code}`, async () => {
    // A short plugin timeout: a registration that never settles fails fast instead of after Fastify's 10 s.
    const viaRegister = Fastify({ pluginTimeout: 500 });
    defer(() => viaRegister.close().catch(() => undefined));
    await assert.rejects(
      async () => {
        await viaRegister.register(wstunnel, options);
      },
      { code },
      'await fastify.register(wstunnel, options)',
    );

    const viaReady = Fastify({ pluginTimeout: 500 });
    defer(() => viaReady.close().catch(() => undefined));
    viaReady.register(wstunnel, { prefix: '/ws2', ...options });
    await assert.rejects(
      async () => {
        await viaReady.ready();
      },
      { code },
      'fastify.ready()',
    );
  });
}

test('setErrorHandler gets a TunnelError (statusCode 502) for a plain request when the backend is down', async () => {
  const dead = await deadPort();
  const errors: unknown[] = [];
  const { port } = await startApp((app) => {
    app.setErrorHandler((error, _request, reply) => {
      errors.push(error);
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      return reply
        .code(status)
        .header('x-handled-by', 'app')
        .send({ handled: (error as { code?: string }).code });
    });
    app.register(wstunnel, { prefix: '/ws2', target: `ws://127.0.0.1:${dead}/` });
  });
  const res = await request(port, 'GET', '/ws2/x');
  assert.equal(res.status, 502);
  assert.equal(res.headers['x-handled-by'], 'app');
  assert.equal(errors.length, 1);
  const error = errors[0] as TunnelError;
  assert.ok(error instanceof TunnelError, `not a TunnelError: ${String(error)}`);
  assert.equal(error.statusCode, 502);
  assert.deepEqual(JSON.parse(res.body.toString()), { handled: error.code });
});

test('a failed upgrade handshake (backend down -> 502) is logged with request.log.warn', async () => {
  const dead = await deadPort();
  const lines: string[] = [];
  let notify: (() => void) | undefined;
  const logged = new Promise<void>((resolve) => {
    notify = resolve;
  });
  const stream = {
    write(line: string): void {
      lines.push(line);
      if (line.includes('wstunnel')) notify?.();
    },
  };
  const { ws } = await startApp(
    (app) => {
      app.register(wstunnel, { prefix: '/ws2', target: `ws://127.0.0.1:${dead}/` });
    },
    { logger: { stream, level: 'info' } },
  );
  const refused = await refusedUpgrade(ws('/ws2/down'));
  assert.equal(refused.status, 502);
  await logged;
  const entry = JSON.parse(lines.find((line) => line.includes('wstunnel')) ?? '{}') as {
    level?: number;
    reqId?: string;
    msg?: string;
  };
  assert.equal(entry.level, 40, `not logged at warn: ${JSON.stringify(entry)}`);
  assert.equal(typeof entry.reqId, 'string', 'not logged through request.log');
  // The request that failed is the one logged: its incoming-request line carries the same reqId.
  assert.ok(
    lines.some((line) => line.includes(`"reqId":"${entry.reqId}"`) && line.includes('/ws2/down')),
    'the warn line is not tied to the failed request',
  );
});

test('fastify.close() with an open tunnel drains: the tunnel is ended and close resolves within closeTimeout', async () => {
  const backend = await startBackend();
  const { app, ws, close } = await startApp((app) => {
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/`, closeTimeout: 300 });
  });
  const [engine] = tunnelsOf(app);
  assert.ok(engine instanceof Wstunnel);
  const socket = await client(ws('/ws2/drain'));
  assert.equal((await roundTrip(socket, 'before')).data.toString(), 'before');
  assert.equal(engine.size, 1);
  const [backendSocket] = backend.wss.clients;
  assert.ok(backendSocket !== undefined);
  const backendClosed = once(backendSocket, 'close');
  const clientClosed = closed(socket);

  const started = Date.now();
  const closing = close();
  // The grace period: the tunnel still carries messages.
  assert.equal((await roundTrip(socket, 'during drain')).data.toString(), 'during drain');
  await closing;
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250, `close() did not give the tunnel its grace period (${elapsed} ms)`);
  assert.ok(elapsed < 3_000, `close() was not bounded by closeTimeout (${elapsed} ms)`);
  await clientClosed;
  await backendClosed;
  assert.equal(engine.size, 0);
});

for (const order of ['@fastify/websocket first', 'wstunnel first'] as const) {
  test(`coexists with @fastify/websocket (${order}): both work, each upgrade handled once`, async () => {
    const backend = await startBackend();
    const onRequest: string[] = [];
    let nativeConnections = 0;
    const { ws } = await startApp(async (app) => {
      app.addHook('onRequest', async (request) => {
        onRequest.push(request.url);
      });
      const native = async (): Promise<void> => {
        await app.register(fastifyWebsocket);
        app.get('/native', { websocket: true }, (socket) => {
          nativeConnections++;
          socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
        });
      };
      if (order === '@fastify/websocket first') await native();
      app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
      if (order === 'wstunnel first') await native();
    });
    const nativeClient = await client(ws('/native'));
    assert.equal((await roundTrip(nativeClient, 'native echo')).data.toString(), 'native echo');
    const tunnelled = await client(ws('/ws2/t'));
    assert.equal((await roundTrip(tunnelled, 'tunnel echo')).data.toString(), 'tunnel echo');
    // A second native connection after the tunnel: neither took over the other's upgrades.
    const nativeAgain = await client(ws('/native'));
    assert.equal((await roundTrip(nativeAgain, 'again')).data.toString(), 'again');

    assert.equal(nativeConnections, 2);
    assert.deepEqual(
      backend.upgrades.map((req) => req.url),
      ['/t'],
    );
    assert.deepEqual(onRequest, ['/native', '/ws2/t', '/native'], 'an upgrade went through Fastify twice');
  });
}

test('an upgrade to an unknown path gets Fastify 404 as HTTP', async () => {
  const backend = await startBackend();
  const { ws } = await startApp((app) => {
    app.get('/hello', async () => 'hi');
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });
  const refused = await refusedUpgrade(ws('/nothing/here'));
  assert.equal(refused.status, 404);
  assert.match(refused.body, /Route GET:\/nothing\/here not found/);
  assert.equal(backend.connections, 0);
});

test('the first WebSocket to a freshly listened instance works', async () => {
  const backend = await startBackend();
  const app = Fastify();
  defer(() => app.close());
  app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const socket = await client(`ws://127.0.0.1:${address.port}/ws2/first`);
  assert.equal((await roundTrip(socket, 'first')).data.toString(), 'first');
  assert.equal(backend.upgrades[0]?.url, '/first');
});

test('tunnelsOf(fastify) lists the engines of the registrations; size is back to 0 after clients close', async () => {
  const backend = await startBackend();
  const { app, ws } = await startApp((app) => {
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
    app.register(wstunnel, { prefix: '/other', target: `${backend.origin}/other/` });
  });
  const engines = tunnelsOf(app);
  assert.equal(engines.length, 2);
  const [engine, other] = engines;
  assert.ok(engine instanceof Wstunnel && other instanceof Wstunnel && engine !== other);
  assert.equal(engine.size, 0);
  const a = await client(ws('/ws2/a'));
  const b = await client(ws('/ws2/b'));
  await roundTrip(a, 'a');
  await roundTrip(b, 'b');
  assert.equal(engine.size, 2);
  assert.equal(engine.openTunnels, 2);
  assert.equal(other.size, 0, 'a tunnel was counted by the other registration');
  let closes = 0;
  const bothEnded = new Promise<void>((resolve) => {
    engine.on('close', () => {
      if (++closes === 2) resolve();
    });
  });
  a.close(1000);
  b.close(1000);
  await bothEnded;
  assert.equal(engine.size, 0);
  assert.equal(engine.openTunnels, 0);
});

test('a plain POST with a JSON body under the prefix reaches the backend byte-identical', async () => {
  const backend = await startBackend();
  const { port } = await startApp((app) => {
    // The parent keeps parsing JSON for its own routes.
    app.post('/parsed', async (request) => ({ parsed: request.body }));
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });
  const json = '{ "b" : 2,\n  "a":[1, 2.50, "\\u00e9"] }\n';
  const res = await request(
    port,
    'POST',
    '/ws2/items?draft=1',
    { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
    json,
  );
  assert.equal(res.status, 200);
  const seen = backend.plain.at(-1);
  assert.equal(seen?.method, 'POST');
  assert.equal(seen?.url, '/items?draft=1');
  assert.equal(seen?.headers['content-type'], 'application/json');
  assert.ok(seen?.body.equals(Buffer.from(json)), `body changed: ${JSON.stringify(seen?.body.toString())}`);

  // A body no parser at the root would take (and larger than a chunk) goes through unread as well.
  const binary = Buffer.alloc(300_000, 7);
  binary.write('start', 0);
  const upload = await request(
    port,
    'POST',
    '/ws2/upload',
    { 'content-type': 'application/x-custom', 'content-length': binary.length },
    binary,
  );
  assert.equal(upload.status, 200);
  assert.ok(backend.plain.at(-1)?.body.equals(binary), 'binary body changed');

  const parsed = await request(
    port,
    'POST',
    '/parsed',
    { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
    json,
  );
  assert.equal(parsed.status, 200);
  assert.deepEqual(JSON.parse(parsed.body.toString()), { parsed: { b: 2, a: [1, 2.5, 'é'] } });
});

test('HEAD and OPTIONS requests under the prefix are proxied', async () => {
  const backend = await startBackend();
  const { port } = await startApp((app) => {
    app.register(wstunnel, { prefix: '/ws2', target: `${backend.origin}/` });
  });
  const head = await request(port, 'HEAD', '/ws2/h?x=1');
  assert.equal(head.status, 200);
  assert.equal(head.headers['x-backend'], 'yes');
  assert.equal(head.body.length, 0);
  assert.equal(backend.plain.at(-1)?.method, 'HEAD');
  assert.equal(backend.plain.at(-1)?.url, '/h?x=1');

  const options = await request(port, 'OPTIONS', '/ws2/o');
  assert.equal(options.status, 204);
  assert.equal(options.headers.allow, 'GET, HEAD, OPTIONS, POST');
  assert.equal(options.headers['x-backend'], 'yes');
  assert.equal(backend.plain.at(-1)?.method, 'OPTIONS');
  assert.equal(backend.plain.at(-1)?.url, '/o');
  assert.equal(backend.plain.length, 2);
});
