// Why: edge cases of the plain-HTTP side found in review (http-forward.ts through http-proxy-middleware/httpxy): headers both
// ways, X-Forwarded-* forgery, req.url restoration, status mapping, max/size accounting and shutdown.
import assert from 'node:assert/strict';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { createWstunnel, type PrefixRule, type Wstunnel } from '@wstunnel/core';
import { type RawBackend, type RawScript, startRawBackend } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  closeServer,
  deadPort,
  listen,
  rawConnect,
  rawExchange,
  readAll,
  readBytes,
  readHead,
  statusOf,
} from '../helpers/net.ts';

const defer = cleanupAfterEach();

/** An HTTP backend that answers with what it saw, as JSON with a Content-Length. */
async function startJsonBackend(
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number; http: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    if (handler !== undefined) return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify({
        url: req.url,
        method: req.method,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const port = await listen(server);
  defer(() => closeServer(server));
  return { server, port, http: `http://127.0.0.1:${port}`, seen };
}

/** What a {@link startJsonBackend} backend answers: the request it saw. */
interface Echoed {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/** Parses the JSON body a {@link startJsonBackend} backend answered with. */
function echoed(body: string): Echoed {
  return JSON.parse(body) as Echoed;
}

/** Rule options a test may set besides `path` and `target`. */
type RuleOptions = Omit<PrefixRule, 'path' | 'target'>;

/** The real gateway (the one the CLI runs) with the single rule `rule`, closed after the test. */
async function gatewayWith(rule: PrefixRule): Promise<TestGateway> {
  const gateway = await startTestGateway({ rules: [rule] });
  defer(() => gateway.close(0));
  return gateway;
}

/** A {@link startJsonBackend} backend behind the gateway on `/` -> the backend's `/`; both closed after the test. */
async function jsonBehindGateway(
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
  rule: RuleOptions = {},
): Promise<{ backend: Awaited<ReturnType<typeof startJsonBackend>>; gateway: TestGateway }> {
  const backend = await startJsonBackend(handler);
  const gateway = await gatewayWith({ path: '/', target: `${backend.http}/`, ...rule });
  return { backend, gateway };
}

/** A raw backend running `script` behind the gateway on `/` -> the backend's `/`; both closed after the test. */
async function rawBehindGateway(
  script: RawScript,
  rule: RuleOptions = {},
): Promise<{ backend: RawBackend; gateway: TestGateway }> {
  const backend = await startRawBackend(script);
  defer(() => backend.close());
  const gateway = await gatewayWith({ path: '/', target: `http://127.0.0.1:${backend.port}/`, ...rule });
  return { backend, gateway };
}

/** A raw backend script: a 101 switching to `protocol`, then the tunnel bytes `RAW`, on a plain request. */
function switchesTo(protocol: string): RawScript {
  return (socket) =>
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\n\r\nRAW`,
    );
}

/** Opens a raw connection to `port`, destroyed after the test. */
async function connect(port: number): Promise<Socket> {
  const socket = await rawConnect(port);
  defer(() => void socket.destroy());
  return socket;
}

/**
 * Sends `requestHead` on a new connection and resolves with all it gets back until the server closes, or with
 * 'no answer after 3 s': a guard well past the 1 s backend timeouts these tests set, so a hang shows as such.
 */
async function answerOrHang(port: number, requestHead: string): Promise<string> {
  const client = await connect(port);
  const response = readAll(client).then((bytes) => bytes.toString('latin1'));
  client.write(requestHead);
  return Promise.race([response, guard(3000, 'no answer after 3 s')]);
}

/**
 * Sends `head` (a request asking `Expect: 100-continue` for the 2-byte body `hi`) on a new connection, waits for the
 * interim answer before sending the body, and resolves with the interim head and the final response.
 */
async function postAfterContinue(
  port: number,
  head: string,
): Promise<{ interim: string; head: string; status: number; body: string }> {
  const socket = await connect(port);
  socket.write(head);
  const interim = await readHead(socket);
  socket.write('hi');
  return { interim: interim.head, ...(await readResponse(socket)) };
}

/** Reads one Content-Length response from the socket. */
async function readResponse(socket: Socket): Promise<{ head: string; status: number; body: string }> {
  const { head, rest } = await readHead(socket);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? '0');
  const body = length === 0 ? Buffer.alloc(0) : await readBytes(socket, length, rest);
  return { head, status: statusOf(head), body: body.toString() };
}

/** Resolves with `value` after `ms`: a guard against a hang, never a wait for I/O. */
function guard(ms: number, value: string): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(value), ms);
    defer(() => clearTimeout(timer));
  });
}

/** Waits (a bounded number of loop turns, no timers) until `check` holds. */
async function settle(check: () => boolean): Promise<void> {
  for (let turn = 0; turn < 200 && !check(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** A node:http server running `listener` with `tunnel` attached, on a free port; both closed after the test. */
async function serve(tunnel: Wstunnel, listener: RequestListener): Promise<{ server: Server; port: number }> {
  const server = createServer(listener);
  tunnel.attach(server);
  const port = await listen(server);
  defer(
    () => closeServer(server),
    () => tunnel.close({ timeout: 0 }),
  );
  return { server, port };
}

/**
 * A node:http server hosting `tunnel` the way the README shows, plus a hook run before handleRequest; `urls` gets
 * each request's req.url as the app sees it once its response has closed.
 */
async function host(
  tunnel: Wstunnel,
  before?: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
): Promise<{ server: Server; port: number; urls: string[] }> {
  const urls: string[] = [];
  const { server, port } = await serve(tunnel, async (req, res) => {
    if (before !== undefined) await before(req, res);
    const handled = tunnel.handleRequest(req, res);
    res.once('close', () => urls.push(req.url ?? ''));
    if (!handled) res.writeHead(404).end();
  });
  return { server, port, urls };
}

describe('Expect: 100-continue takes the same header path as any plain request', () => {
  test('a forged X-Forwarded-For with Expect: 100-continue is replaced, not forwarded', async () => {
    const { gateway } = await jsonBehindGateway();
    const { interim, status, body } = await postAfterContinue(
      gateway.port,
      'POST /x HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nExpect: 100-continue\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
    );
    assert.match(interim, /^HTTP\/1\.1 100/);
    assert.equal(status, 200);
    assert.equal(echoed(body).headers['x-forwarded-for'], '127.0.0.1', 'a client cannot forge its address');
  });

  test('with Expect: 100-continue the backend gets the target Host and no Connection-named field', async () => {
    const { backend, gateway } = await jsonBehindGateway();
    const { body } = await postAfterContinue(
      gateway.port,
      'POST /x HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: keep-alive, X-Secret\r\nX-Secret: hop\r\nKeep-Alive: timeout=5\r\n\r\n',
    );
    const seen = echoed(body);
    assert.equal(seen.headers.host, `127.0.0.1:${backend.port}`);
    assert.equal(seen.headers['x-secret'], undefined, 'a field named in Connection is hop-by-hop');
    assert.equal(seen.headers['keep-alive'], undefined);
  });

  test("with Expect: 100-continue the app's req.url is restored after proxying", async () => {
    const backend = await startJsonBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/api/', target: `${backend.http}/v1/` }] });
    const { port, urls } = await host(tunnel);
    const { body } = await postAfterContinue(
      port,
      'POST /api/x HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    );
    assert.equal(echoed(body).url, '/v1/x');
    await settle(() => urls.length > 0);
    assert.deepEqual(urls, ['/api/x']);
  });
});

describe("the app's own view of the request while and after it is proxied", () => {
  test("a 'finish' listener (an access logger) sees the client's Host, X-Forwarded-For and url, not the backend's", async () => {
    const backend = await startJsonBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/api/', target: `${backend.http}/v1/` }] });
    const seen = Promise.withResolvers<Record<string, string | undefined>>();
    const { port } = await serve(tunnel, (req, res) => {
      // on-finished / morgan / pino-http style: the log line is written when the response finishes.
      res.once('finish', () =>
        seen.resolve({
          host: req.headers.host,
          xff: req.headers['x-forwarded-for'] as string | undefined,
          url: req.url,
          secret: req.headers['x-secret'] as string | undefined,
        }),
      );
      if (!tunnel.handleRequest(req, res)) res.writeHead(404).end();
    });
    const response = await rawExchange(
      port,
      'GET /api/x HTTP/1.1\r\nHost: front.example\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close, X-Secret\r\nX-Secret: s\r\n\r\n',
    );
    assert.equal(statusOf(response), 200);
    assert.deepEqual(await seen.promise, {
      host: 'front.example',
      xff: '10.0.0.1',
      url: '/api/x',
      secret: 's',
    });
  });

  test('right after handleRequest returns, req.headers is still what the client sent', async () => {
    const backend = await startJsonBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/', target: `${backend.http}/` }] });
    const seen = Promise.withResolvers<string | undefined>();
    const { port } = await serve(tunnel, (req, res) => {
      const handled = tunnel.handleRequest(req, res);
      seen.resolve(req.headers.host);
      if (!handled) res.writeHead(404).end();
    });
    await rawExchange(port, 'GET /x HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n\r\n');
    assert.equal(await seen.promise, 'front.example');
  });
});

describe('handleRequest with an explicit (mount-relative) path', () => {
  test('an Upgrade: h2c request the dispatcher declined is routed by the path the app passes, not by req.url', async () => {
    const backend = await startJsonBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/api/', target: `${backend.http}/v1/` }] });
    // An adapter mounted at /mount passes the mount-relative target (what Express gives a sub-app as req.url).
    const { port } = await serve(tunnel, (req, res) => {
      const url = req.url ?? '';
      const handled = url.startsWith('/mount/') && tunnel.handleRequest(req, res, url.slice('/mount'.length));
      if (!handled) res.writeHead(404, { 'content-length': '0' }).end();
    });
    const plain = await rawExchange(
      port,
      'GET /mount/api/x HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n',
    );
    assert.equal(statusOf(plain), 200, 'sanity: without Upgrade the mount-relative path routes');
    const h2c = await rawExchange(
      port,
      'GET /mount/api/x HTTP/1.1\r\nHost: g\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    assert.equal(statusOf(h2c), 200, 'the decision cached for req.url (/mount/api/x: no rule) was used');
  });
});

describe('hop-by-hop fields in the backend response', () => {
  test('fields the backend names in Connection, Keep-Alive and Upgrade do not reach the client', async () => {
    const { gateway } = await rawBehindGateway((socket) => {
      socket.end(
        'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=99\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nContent-Length: 2\r\n\r\nok',
      );
    });
    const response = await rawExchange(
      gateway.port,
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n',
    );
    assert.equal(statusOf(response), 200);
    assert.doesNotMatch(response, /x-internal/i);
    assert.doesNotMatch(response, /keep-alive: timeout=99/i);
    assert.doesNotMatch(response, /\r\nupgrade:/i);
    assert.doesNotMatch(response, /proxy-connection/i);
  });

  test('the response Connection is not the client’s Upgrade for an upgrade proxied as plain', async () => {
    const { gateway } = await jsonBehindGateway();
    const socket = await connect(gateway.port);
    socket.write(
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const { head, status, body } = await readResponse(socket);
    assert.equal(status, 200);
    assert.doesNotMatch(head, /\r\nconnection: *upgrade/i);
    assert.equal(echoed(body).headers.upgrade, undefined);
  });
});

describe('status mapping and accounting on failures', () => {
  test('a backend that answers 101 to a plain request: 502 at once, never a tunnel, and size returns to 0', async () => {
    const { gateway } = await rawBehindGateway(switchesTo('websocket'), { timeout: 1000 });
    // Even the 1 s backend timeout does not end it: a guard well past it shows the hang.
    const answer = await answerOrHang(
      gateway.port,
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n',
    );
    assert.equal(statusOf(answer), 502, answer);
    assert.doesNotMatch(answer, /RAW/);
    await settle(() => gateway.tunnel.size === 0);
    assert.equal(gateway.tunnel.size, 0);
  });

  test('an upgrade proxied as plain (http:// rule) whose backend answers 101 gets 502, not a hang or a tunnel', async () => {
    const { backend, gateway } = await rawBehindGateway(switchesTo('websocket'), { timeout: 1000 });
    const answer = await answerOrHang(
      gateway.port,
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.doesNotMatch(backend.heads[0] ?? '', /\r\nupgrade:/i);
    assert.doesNotMatch(answer, /RAW/);
    assert.equal(statusOf(answer), 502, answer);
  });

  test('a backend that resets before answering: 502 and size back to 0', async () => {
    const { gateway } = await rawBehindGateway((socket) => socket.resetAndDestroy());
    const response = await rawExchange(
      gateway.port,
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n',
    );
    assert.equal(statusOf(response), 502);
    await settle(() => gateway.tunnel.size === 0);
    assert.equal(gateway.tunnel.size, 0);
  });

  test('a backend refused: 502 and the app’s req.url is restored', async () => {
    const tunnel = createWstunnel({
      rules: [{ path: '/api/', target: `http://127.0.0.1:${await deadPort()}/v1/` }],
    });
    const { port, urls } = await host(tunnel);
    const response = await rawExchange(
      port,
      'GET /api/x?y=1 HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n',
    );
    assert.equal(statusOf(response), 502);
    await settle(() => urls.length > 0);
    assert.deepEqual(urls, ['/api/x?y=1']);
    assert.equal(tunnel.size, 0);
  });

  test('a client that left before the app called handleRequest does not leak a max slot', async () => {
    const backend = await startJsonBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/', target: `${backend.http}/`, max: 1 }] });
    const handled = Promise.withResolvers<void>();
    let first = true;
    const server = createServer(async (req, res) => {
      // An async middleware (auth, body parser...) runs first; the client leaves meanwhile.
      if (first) {
        first = false;
        if (!res.destroyed) await new Promise((resolve) => res.once('close', resolve));
        tunnel.handleRequest(req, res);
        handled.resolve();
        return;
      }
      if (!tunnel.handleRequest(req, res)) res.writeHead(404).end();
    });
    tunnel.attach(server);
    const port = await listen(server);
    // Not awaited (unlike serve()): with a leaked slot, close() never resolves.
    defer(
      () => closeServer(server),
      () => void tunnel.close({ timeout: 0 }),
    );
    const gone = await rawConnect(port);
    gone.on('error', () => undefined);
    gone.write('GET /a HTTP/1.1\r\nHost: g\r\n\r\n');
    await settle(() => server.listenerCount('request') > 0 && !first);
    gone.destroy();
    await handled.promise;
    await settle(() => tunnel.size === 0);
    assert.equal(tunnel.size, 0, 'the request that never went anywhere still counts');
    const response = await rawExchange(port, 'GET /b HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(response), 200, 'max: 1 is exhausted by the leaked slot');
  });

  test('HEAD, 204 and 304 answers end cleanly and keep the connection usable', async () => {
    const { gateway } = await jsonBehindGateway((req, res) => {
      if (req.url === '/204') return res.writeHead(204).end();
      if (req.url === '/304') return res.writeHead(304, { etag: '"x"' }).end();
      res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const socket = await connect(gateway.port);
    // Each bodiless answer must end where its head ends, or the next request's answer is misread.
    for (const [requestLine, status] of [
      ['HEAD /h HTTP/1.1', 200],
      ['GET /204 HTTP/1.1', 204],
      ['GET /304 HTTP/1.1', 304],
    ] as const) {
      socket.write(`${requestLine}\r\nHost: g\r\n\r\n`);
      const { head, rest } = await readHead(socket);
      assert.equal(statusOf(head), status, requestLine);
      socket.unshift(rest);
    }
    socket.write('GET /200 HTTP/1.1\r\nHost: g\r\n\r\n');
    const last = await readResponse(socket);
    assert.equal(last.body, 'hello');
    await settle(() => gateway.tunnel.size === 0);
    assert.equal(gateway.tunnel.size, 0);
  });

  test('pipelined requests on one keep-alive connection are each proxied, in order', async () => {
    const backend = await startJsonBackend();
    const gateway = await gatewayWith({ path: '/p/', target: `${backend.http}/q/` });
    const socket = await connect(gateway.port);
    socket.write(
      'GET /p/1 HTTP/1.1\r\nHost: g\r\n\r\nPOST /p/2 HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\n\r\nabcGET /p/3 HTTP/1.1\r\nHost: g\r\n\r\n',
    );
    const urls: string[] = [];
    for (let i = 0; i < 3; i++) urls.push(echoed((await readResponse(socket)).body).url);
    assert.deepEqual(urls, ['/q/1', '/q/2', '/q/3']);
  });

  test('a chunked upload whose client aborts mid-body: the backend request is aborted and size returns to 0', async () => {
    const arrived = Promise.withResolvers<IncomingMessage>();
    const { gateway } = await jsonBehindGateway((req) => {
      req.on('error', () => undefined);
      req.once('data', () => arrived.resolve(req));
    });
    const client = await rawConnect(gateway.port);
    client.on('error', () => undefined);
    client.write('POST /up HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    const backendReq = await arrived.promise;
    const aborted = new Promise((resolve) => backendReq.once('close', resolve));
    client.destroy();
    await aborted;
    await settle(() => gateway.tunnel.size === 0);
    assert.equal(gateway.tunnel.size, 0);
  });
});

describe('handleUpgrade on an upgrade its rule proxies as plain HTTP (the bridge on a raw socket)', () => {
  /** A server whose own 'upgrade' listener hands every upgrade to handleUpgrade (no attach, no dispatcher). */
  async function upgradeHost(tunnel: Wstunnel): Promise<number> {
    const server = createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket, head) => void tunnel.handleUpgrade(req, socket, head));
    const port = await listen(server);
    defer(
      () => closeServer(server),
      () => tunnel.close({ timeout: 0 }),
    );
    return port;
  }
  const upgradeHead =
    'GET /x HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n';

  test('the backend answer is relayed and the backend never sees Upgrade or HTTP2-Settings', async () => {
    const backend = await startJsonBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/', target: `${backend.http}/` }] });
    const port = await upgradeHost(tunnel);
    const response = await rawExchange(port, upgradeHead);
    assert.equal(statusOf(response), 200);
    const seen = echoed(response.slice(response.indexOf('\r\n\r\n') + 4));
    assert.equal(seen.headers.upgrade, undefined);
    assert.equal(seen.headers['http2-settings'], undefined);
    await settle(() => tunnel.size === 0);
    assert.equal(tunnel.size, 0);
  });

  test('a backend 101 there is a 502, not a tunnel, and size returns to 0', async () => {
    const backend = await startRawBackend(switchesTo('h2c'));
    defer(() => backend.close());
    const tunnel = createWstunnel({
      rules: [{ path: '/', target: `http://127.0.0.1:${backend.port}/`, timeout: 1000 }],
    });
    const port = await upgradeHost(tunnel);
    const answer = await answerOrHang(port, upgradeHead);
    assert.equal(statusOf(answer), 502, answer);
    assert.doesNotMatch(answer, /RAW/);
    await settle(() => tunnel.size === 0);
    assert.equal(tunnel.size, 0);
  });
});

describe('shutdown with plain requests in flight', () => {
  test('close({ timeout }) resolves by its deadline even when a plain request is still waiting for its backend', async () => {
    const arrived = Promise.withResolvers<void>();
    // A long poll: the backend holds the request (no proxy timeout configured).
    const { gateway } = await jsonBehindGateway(() => arrived.resolve(), { timeout: 0 });
    const client = request(`${gateway.url}/poll`);
    client.on('error', () => undefined);
    client.end();
    defer(() => void client.destroy());
    await arrived.promise;
    const closed = gateway.tunnel.close({ timeout: 50 }).then(() => 'closed');
    // If close() waits for the long poll, it never settles here; the backend answering after 3 s would free it.
    assert.equal(await Promise.race([closed, guard(3000, 'still waiting after 3 s')]), 'closed');
  });
});

describe('request bodies', () => {
  test('a POST with Content-Length and one with chunked encoding reach the backend intact', async () => {
    const { gateway } = await jsonBehindGateway();
    const socket = await connect(gateway.port);
    socket.write('POST /a HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\n\r\nhello');
    assert.equal(echoed((await readResponse(socket)).body).body, 'hello');
    socket.write(
      'POST /b HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
    );
    assert.equal(echoed((await readResponse(socket)).body).body, 'abcde');
  });

  test('Connection: Content-Length on a POST does not lose the body', async () => {
    const { gateway } = await jsonBehindGateway();
    const socket = await connect(gateway.port);
    socket.write(
      'POST /a HTTP/1.1\r\nHost: g\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello',
    );
    const { status, body } = await readResponse(socket);
    assert.equal(status, 200);
    assert.equal(echoed(body).body, 'hello');
  });
});
