// Why: plain requests on the same rules are proxied as HTTP (http-proxy-middleware) with the tunnel's path mapping,
// headers and error statuses, and every way a backend or client can fail ends in a status or a clean close.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { openClient, roundTrip, startTestGateway } from '../helpers/gateway.ts';
import {
  closeServer,
  deadPort,
  listen,
  rawConnect,
  rawExchange,
  readBytes,
  readHead,
  statusOf,
} from '../helpers/net.ts';

/** Sends a raw request and returns the status and the JSON body of a Content-Length response. */
async function exchangeJson(
  port: number,
  head: string,
): Promise<{ status: number; body: { url: string; headers: Record<string, string> } }> {
  const socket = await rawConnect(port);
  socket.write(head);
  const { head: responseHead, rest } = await readHead(socket);
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(responseHead)?.[1]);
  const body = await readBytes(socket, length, rest);
  socket.destroy();
  return { status: statusOf(responseHead), body: JSON.parse(body.toString()) };
}

/** An HTTP backend that also accepts WebSockets, recording what reached it. */
interface DualBackend {
  readonly server: Server;
  readonly port: number;
  readonly seen: IncomingMessage[];
  readonly http: string;
  readonly ws: string;
}

async function startDualBackend(
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void = (req, res) => {
    const body = JSON.stringify({ url: req.url, method: req.method, headers: req.headers });
    const length = Buffer.byteLength(body);
    res
      .writeHead(200, { 'content-type': 'application/json', 'content-length': length, 'x-backend': 'dual' })
      .end(body);
  },
): Promise<DualBackend> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    seen.push(req);
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  const port = await listen(server);
  return { server, port, seen, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

async function stop(backend: DualBackend): Promise<void> {
  backend.server.closeAllConnections();
  await closeServer(backend.server);
}

const defer = cleanupAfterEach();

describe('plain requests are proxied as HTTP on the same rules', () => {
  let backend: DualBackend;
  before(async () => {
    backend = await startDualBackend();
  });
  after(() => stop(backend));

  test('an http:// prefix rule maps the path like ProxyPass and sets Host and X-Forwarded-*', async () => {
    const gateway = await startTestGateway({ rules: [{ path: '/api/', target: `${backend.http}/v1/` }] });
    defer(() => gateway.close(0));
    const { status, body: seen } = await exchangeJson(
      gateway.port,
      `GET /api/items/%7e?q=1 HTTP/1.1\r\nHost: ${new URL(gateway.url).host}\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: x-secret\r\nX-Secret: drop me\r\n\r\n`,
    );
    assert.equal(status, 200);
    assert.equal(seen.url, '/v1/items/~?q=1');
    assert.equal(seen.headers.host, `127.0.0.1:${backend.port}`);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'a client cannot forge its address');
    assert.equal(seen.headers['x-forwarded-host'], new URL(gateway.url).host);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-secret'], undefined, 'a field named in Connection is hop-by-hop');
  });

  test('Connection: X-Forwarded-For cannot remove the proxy’s own X-Forwarded-For (CVE-2022-31813)', async () => {
    const gateway = await startTestGateway({ rules: [{ path: '/', target: `${backend.http}/` }] });
    defer(() => gateway.close(0));
    const { body: seen } = await exchangeJson(
      gateway.port,
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: close, X-Forwarded-For, X-Forwarded-Host\r\n\r\n',
    );
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-host'], 'g');
  });

  test('preserveHost sends the client’s Host; xForwarded: false adds nothing', async () => {
    const gateway = await startTestGateway({
      rules: [{ path: '/', target: `${backend.http}/`, preserveHost: true, xForwarded: false }],
    });
    defer(() => gateway.close(0));
    const seen = (await (await fetch(`${gateway.url}/x`)).json()) as { headers: Record<string, string> };
    assert.equal(seen.headers.host, new URL(gateway.url).host);
    assert.equal(seen.headers['x-forwarded-for'], undefined);
  });

  test('a ws:// rule proxies plain requests to the same backend (ProxyWebsocketFallbackToProxyHttp On)', async () => {
    const gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.ws}/sock/` }] });
    defer(() => gateway.close(0));
    const seen = (await (await fetch(`${gateway.url}/ws/poll?t=1`)).json()) as { url: string };
    assert.equal(seen.url, '/sock/poll?t=1');
    const client = await openClient(gateway.ws('/ws/x'));
    assert.equal((await roundTrip(client, 'both')).data.toString(), 'both');
    client.close();
  });

  test('with the fallback off, plain requests skip the ws:// rule and reach the next one', async () => {
    const gateway = await startTestGateway({
      rules: [
        { path: '/app/', target: `${backend.ws}/socket/`, fallbackToHttp: false },
        { path: '/app/', target: `${backend.http}/page/` },
      ],
    });
    defer(() => gateway.close(0));
    const seen = (await (await fetch(`${gateway.url}/app/x`)).json()) as { url: string };
    assert.equal(seen.url, '/page/x');
    const client = await openClient(gateway.ws('/app/x'));
    client.close();
    assert.equal(backend.seen.at(-1)?.url, '/socket/x');
  });

  test('an upgrade to an http:// rule without upgrade= is proxied as plain HTTP, Upgrade removed', async () => {
    const gateway = await startTestGateway({ rules: [{ path: '/', target: `${backend.http}/` }] });
    defer(() => gateway.close(0));
    const { status, body: seen } = await exchangeJson(
      gateway.port,
      'GET /x HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.equal(status, 200);
    assert.equal(seen.headers.upgrade, undefined);
    assert.doesNotMatch(seen.headers.connection ?? '', /upgrade/i);
  });

  test('an http:// rule with upgrade=websocket tunnels upgrades and proxies the rest (Apache 2.4.47+ form)', async () => {
    const gateway = await startTestGateway({
      rules: [{ path: '/some/ws/', target: `${backend.http}/some/ws/`, upgrade: ['websocket'] }],
    });
    defer(() => gateway.close(0));
    const client = await openClient(gateway.ws('/some/ws/chat'));
    assert.equal((await roundTrip(client, 'hi')).data.toString(), 'hi');
    client.close();
    assert.equal(
      ((await (await fetch(`${gateway.url}/some/ws/page`)).json()) as { url: string }).url,
      '/some/ws/page',
    );
  });

  test('each proxied plain request gets an access-log line and a proxied event with its status', async () => {
    const gateway = await startTestGateway({ rules: [{ path: '/api/', target: `${backend.http}/v1/` }] });
    defer(() => gateway.close(0));
    const proxied = new Promise<[string, number]>((resolve) =>
      gateway.tunnel.once('proxied', (info, result) => resolve([info.backend, result.status])),
    );
    assert.equal((await fetch(`${gateway.url}/api/logged?x=1`)).status, 200);
    assert.deepEqual(await proxied, [`${backend.http}/v1/logged?x=1`, 200]);
    assert.match(
      gateway.log.at(-1) ?? '',
      /"GET \/api\/logged\?x=1 HTTP\/1\.1" 200 - - \d+ms http -> http:\/\/127/,
    );
  });

  test('an unmatched plain request is the gateway’s 404; an excluded one too', async () => {
    const gateway = await startTestGateway({
      rules: [
        { path: '/api/private', exclude: true },
        { path: '/api/', target: `${backend.http}/` },
      ],
    });
    defer(() => gateway.close(0));
    assert.equal((await fetch(`${gateway.url}/nothing`)).status, 404);
    assert.equal((await fetch(`${gateway.url}/api/private/x`)).status, 404);
    assert.equal((await fetch(`${gateway.url}/api/public`)).status, 200);
  });
});

describe('bodies stream both ways', () => {
  test('a 4 MiB upload is echoed back intact, chunked both ways', async () => {
    const backend = await startDualBackend((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    defer(() => stop(backend));
    const gateway = await startTestGateway({ rules: [{ path: '/up/', target: `${backend.http}/` }] });
    defer(() => gateway.close(0));
    const payload = Buffer.alloc(4 * 1024 * 1024, 'abcdefgh');
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${gateway.url}/up/echo`, { method: 'POST' }, resolve);
      req.on('error', reject);
      // Written in pieces with no Content-Length, so it is chunked end to end.
      for (let at = 0; at < payload.length; at += 65536) req.write(payload.subarray(at, at + 65536));
      req.end();
    });
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    assert.equal(response.statusCode, 200);
    assert.ok(Buffer.concat(chunks).equals(payload));
  });
});

describe('backend and client failures on the plain-HTTP side', () => {
  test('backend down: 502', async () => {
    const gateway = await startTestGateway({
      rules: [{ path: '/', target: `http://127.0.0.1:${await deadPort()}/` }],
    });
    defer(() => gateway.close(0));
    const response = await fetch(`${gateway.url}/x`);
    assert.equal(response.status, 502);
    assert.match(await response.text(), /cannot reach the backend/);
  });

  test('backend slow to answer: 504 after timeout', async () => {
    const backend = await startDualBackend(() => undefined);
    defer(() => stop(backend));
    const gateway = await startTestGateway({
      rules: [{ path: '/', target: `${backend.http}/`, timeout: 150 }],
    });
    defer(() => gateway.close(0));
    const response = await fetch(`${gateway.url}/slow`);
    assert.equal(response.status, 504);
  });

  test('backend resets mid-response: the client sees a broken response, not a clean end', async () => {
    const backend = await startDualBackend((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      res.once('finish', () => undefined);
      setImmediate(() => res.socket?.destroy());
    });
    defer(() => stop(backend));
    const gateway = await startTestGateway({ rules: [{ path: '/', target: `${backend.http}/` }] });
    defer(() => gateway.close(0));
    const response = await fetch(`${gateway.url}/x`);
    assert.equal(response.status, 200);
    await assert.rejects(response.text());
  });

  test('client leaves early: the backend request is aborted and the gateway count returns to zero', async () => {
    let backendReq: IncomingMessage | undefined;
    const arrived = Promise.withResolvers<void>();
    const backend = await startDualBackend((req) => {
      backendReq = req;
      arrived.resolve();
    });
    defer(() => stop(backend));
    const gateway = await startTestGateway({ rules: [{ path: '/', target: `${backend.http}/` }] });
    defer(() => gateway.close(0));
    const client = request(`${gateway.url}/hang`);
    client.on('error', () => undefined);
    client.end();
    await arrived.promise;
    const live = (): number => gateway.tunnel.size;
    assert.equal(live(), 1);
    const aborted = new Promise((resolve) => backendReq!.on('error', () => undefined).once('close', resolve));
    client.destroy();
    await aborted;
    // The gateway's own response 'close' follows the client's socket close within a few turns of the loop.
    for (let turn = 0; turn < 100 && live() !== 0; turn++)
      await new Promise((resolve) => setImmediate(resolve));
    assert.equal(live(), 0);
  });

  test('max: requests beyond the cap get 503 while the first is in flight', async () => {
    const release = Promise.withResolvers<void>();
    const arrived = Promise.withResolvers<void>();
    const backend = await startDualBackend((_req, res) => {
      arrived.resolve();
      void release.promise.then(() => res.end('done'));
    });
    defer(() => stop(backend));
    const gateway = await startTestGateway({ rules: [{ path: '/', target: `${backend.http}/`, max: 1 }] });
    defer(() => gateway.close(0));
    const first = fetch(`${gateway.url}/a`);
    await arrived.promise;
    assert.equal((await fetch(`${gateway.url}/b`)).status, 503);
    release.resolve();
    assert.equal(await (await first).text(), 'done');
  });

  test('a path that cannot be routed is 400 on the plain side too', async () => {
    const backend = await startDualBackend();
    defer(() => stop(backend));
    const gateway = await startTestGateway({ rules: [{ path: '/', target: `${backend.http}/` }] });
    defer(() => gateway.close(0));
    assert.equal(
      statusOf(await rawExchange(gateway.port, 'GET /a/%2e%2e/b HTTP/1.1\r\nHost: g\r\n\r\n')),
      400,
    );
    assert.equal(statusOf(await rawExchange(gateway.port, 'GET /a/%zz HTTP/1.1\r\nHost: g\r\n\r\n')), 400);
    assert.equal(backend.seen.length, 0);
  });
});

test('CONNECT to the gateway is answered 501, never dropped without a word or tunnelled', async () => {
  const gateway = await startTestGateway({ rules: [{ path: '/', target: 'http://127.0.0.1:9/' }] });
  defer(() => gateway.close(0));
  const response = await rawExchange(
    gateway.port,
    'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n',
  );
  assert.equal(statusOf(response), 501);
});
