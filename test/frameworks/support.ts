/**
 * Why: the framework suites need a backend that answers both WebSockets and plain HTTP and records what reached it,
 * plus clients that report a refused handshake's status and body; the Express and Koa suites also share their
 * per-file scaffolding and the steps of the cases that differ only in how the app declares the route.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { type Cleanup, cleanupAfterEach } from '../helpers/cleanup.ts';
import { closeServer, listen } from '../helpers/net.ts';

/** What a backend saw of one request. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** A backend serving WebSockets (echo) and plain HTTP (200 `plain [METHOD ]<url>[ <body>]`, method shown unless GET) on one port. */
export interface AppBackend {
  readonly port: number;
  /** `ws://127.0.0.1:port` (no trailing slash). */
  readonly origin: string;
  /** `http://127.0.0.1:port` (no trailing slash). */
  readonly httpOrigin: string;
  /** WebSocket handshakes received, in order. */
  readonly upgrades: Seen[];
  /** Plain requests received, in order. */
  readonly requests: Seen[];
  readonly wss: WebSocketServer;
  close(): Promise<void>;
}

function seen(req: IncomingMessage): Seen {
  return { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
}

/** Starts an {@link AppBackend}, closed after the test. */
export async function startAppBackend(defer: (...cleanups: Cleanup[]) => void): Promise<AppBackend> {
  const upgrades: Seen[] = [];
  const requests: Seen[] = [];
  const server = createServer((req, res) => {
    requests.push(seen(req));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = Buffer.concat(chunks).toString();
      const body = `plain ${req.method === 'GET' ? '' : `${req.method} `}${req.url}${received === '' ? '' : ` ${received}`}`;
      res
        .writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
        .end(body);
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push(seen(req));
    wss.handleUpgrade(req, socket, head, (client) => {
      client.on('message', (data, isBinary) => client.send(data, { binary: isBinary }));
    });
  });
  const port = await listen(server);
  const backend: AppBackend = {
    port,
    origin: `ws://127.0.0.1:${port}`,
    httpOrigin: `http://127.0.0.1:${port}`,
    upgrades,
    requests,
    wss,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  };
  defer(() => backend.close());
  return backend;
}

/** Serves `listener` on a free loopback port, closed (connections destroyed) after the test. */
export async function serve(
  defer: (...cleanups: Cleanup[]) => void,
  listener: RequestListener,
): Promise<{ server: Server; port: number }> {
  const server = createServer(listener);
  const port = await listen(server);
  defer(() => closeServer(server));
  return { server, port };
}

/** A plain HTTP response. */
export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** GET (or `method`, with `body`) on a fresh connection, without keep-alive. */
export function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The end of a WebSocket handshake: 101 with the open client, or the refusal's status and body. */
export type Handshake =
  | { readonly status: 101; readonly client: WebSocket }
  | { readonly status: number; readonly body: string; readonly client?: undefined };

/**
 * Opens a `ws` client on `ws://127.0.0.1:port` + path and settles on the handshake's answer; an opened client is
 * terminated after the test. Rejects when the connection fails without an HTTP answer.
 */
export function upgrade(
  defer: (...cleanups: Cleanup[]) => void,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<Handshake> {
  const client = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
  defer(() => client.terminate());
  client.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    client.once('open', () => resolve({ status: 101, client }));
    client.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => undefined);
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    client.once('error', reject);
  });
}

/** Opens a WebSocket that must succeed; returns the open client. */
export async function openWs(
  defer: (...cleanups: Cleanup[]) => void,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const result = await upgrade(defer, port, path, headers);
  if (result.client === undefined)
    throw new Error(`expected 101 for ${path}, got ${result.status} ${JSON.stringify(result.body)}`);
  return result.client;
}

/** Sends a text message and resolves with the echoed text. */
export async function echo(client: WebSocket, text: string): Promise<string> {
  const reply = once(client, 'message');
  client.send(text);
  const [data] = (await reply) as [Buffer];
  return data.toString();
}

/** The URLs a backend saw, in order: `urls(backend.upgrades)`, `urls(backend.requests)`. */
export function urls(seen: readonly Seen[]): string[] {
  return seen.map((entry) => entry.url);
}

/** An app under test, listening: its port, and clients bound to it whose sockets are closed after the test. */
export interface Served {
  readonly port: number;
  /** See {@link get}. */
  get(path: string, headers?: Record<string, string>, method?: string, body?: string): Promise<Reply>;
  /** See {@link upgrade}. */
  upgrade(path: string, headers?: Record<string, string>): Promise<Handshake>;
  /** Opens a WebSocket that must succeed and checks that a message comes back through it. */
  echoing(path: string, headers?: Record<string, string>): Promise<WebSocket>;
}

/** What a framework suite needs in every test. */
export interface FrameworkSuite<App> {
  /** Starts an {@link AppBackend}, closed after the test. */
  startBackend(): Promise<AppBackend>;
  /** Drains a tunnel middleware after the test (at once), whatever the test left open. */
  owned<T extends { close(options?: { timeout?: number }): Promise<void> }>(tunnel: T): T;
  /**
   * Listens with `app` on a fresh server and routes its upgrades through the app (the one setup line), unless
   * `routed` is false.
   */
  start(app: App, options?: { routed?: boolean }): Promise<Served>;
}

/**
 * The per-file scaffolding of a framework suite (call it at the top of the file): `listener` is the app's Node
 * entry point, `routeUpgrades` the framework's setup line.
 */
export function frameworkSuite<App>(
  listener: (app: App) => RequestListener,
  routeUpgrades: (server: Server, app: App) => unknown,
): FrameworkSuite<App> {
  const defer = cleanupAfterEach();
  return {
    startBackend: () => startAppBackend(defer),
    owned(tunnel) {
      defer(() => tunnel.close({ timeout: 0 }));
      return tunnel;
    },
    async start(app, { routed = true } = {}) {
      const { server, port } = await serve(defer, listener(app));
      if (routed) routeUpgrades(server, app);
      return {
        port,
        get: (path, ...rest) => get(port, path, ...rest),
        upgrade: (path, headers) => upgrade(defer, port, path, headers),
        async echoing(path, headers) {
          const client = await openWs(defer, port, path, headers);
          const text = `through ${path}`;
          assert.equal(await echo(client, text), text);
          return client;
        },
      };
    },
  };
}

/**
 * Opens a WebSocket on `ws` and GETs `plain`, both sending `x-internal-secret` and `x-kept` (and `headers`), through a
 * route whose `headers` function sets `x-user` and removes `x-internal-secret`: the first WebSocket and the first
 * plain request must reach the backend with `x-user: user`, without `x-internal-secret` and with `x-kept` untouched.
 * Resolves with the plain reply.
 */
export async function checkHeadersFunction(
  served: Served,
  backend: AppBackend,
  {
    ws,
    plain,
    user,
    headers = {},
  }: { ws: string; plain: string; user: string; headers?: Record<string, string> },
): Promise<Reply> {
  const sent = { ...headers, 'x-internal-secret': 'leak', 'x-kept': 'yes' };
  await served.echoing(ws, sent);
  const reply = await served.get(plain, sent);
  for (const seen of [backend.upgrades[0], backend.requests[0]]) {
    assert.ok(seen !== undefined);
    assert.equal(seen.headers['x-user'], user);
    assert.equal(seen.headers['x-internal-secret'], undefined);
    assert.equal(seen.headers['x-kept'], 'yes');
  }
  return reply;
}

/**
 * Through a route whose target function builds the backend path from the route's params and the user earlier
 * middleware took from `x-token`: a WebSocket sent as alice and a plain GET sent as bob each reach their own path.
 */
export async function checkUserTarget(
  served: Served,
  backend: AppBackend,
  ws: { readonly path: string; readonly reaches: string },
  plain: { readonly path: string; readonly reaches: string },
): Promise<void> {
  await served.echoing(ws.path, { 'x-token': 'alice' });
  assert.equal((await served.get(plain.path, { 'x-token': 'bob' })).body, `plain ${plain.reaches}`);
  assert.deepEqual(urls(backend.upgrades), [ws.reaches]);
}

/**
 * A `/rooms/:room` route to `/r/$1`, in the framework's own router: the param reaches `$1` (decoded by the router,
 * encoded again for the backend), a plain GET follows the same route, and a longer path is the framework's 404.
 */
export async function checkRoomsRoute(served: Served, backend: AppBackend): Promise<void> {
  await served.echoing('/rooms/lobby');
  await served.echoing('/rooms/a%20b');
  assert.deepEqual(urls(backend.upgrades), ['/r/lobby', '/r/a%20b']);
  assert.equal((await served.get('/rooms/lobby')).body, 'plain /r/lobby');
  assert.equal((await served.upgrade('/rooms/lobby/extra')).status, 404);
  assert.equal(backend.upgrades.length, 2);
}

/** Resolves with the next process warning carrying `code`. */
export function nextWarning(code: string): Promise<Error & { code?: string }> {
  return new Promise((resolve) => {
    const onWarning = (warning: Error & { code?: string }): void => {
      if (warning.code !== code) return;
      process.off('warning', onWarning);
      resolve(warning);
    };
    process.on('warning', onWarning);
  });
}

/** Whether this Node parses `await using` (Node 22 does not): test/frameworks/await-using.ts needs it. */
export const awaitUsingSupported: boolean = (() => {
  try {
    new Function('return async () => { await using resource = null; }');
    return true;
  } catch {
    return false;
  }
})();
