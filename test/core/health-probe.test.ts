// Why: a health probe decides whether a member gets traffic; it must judge real backends as mod_proxy_hcheck does and never hang or leak.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import type { HealthCheckOptions } from '../../packages/core/src/balancer/balancer-options.ts';
import {
  type ProbeResult,
  probe,
  type ResolvedHealthCheck,
  resolveHealthCheck,
} from '../../packages/core/src/balancer/health-check.ts';
import { WstunnelConfigError } from '../../packages/core/src/errors.ts';
import type { TargetOptions } from '../../packages/core/src/options.ts';
import { resolveTarget } from '../../packages/core/src/target.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { closeServer, deadPort, listen } from '../helpers/net.ts';

const defer = cleanupAfterEach();
const fixtures = new URL('../fixtures/', import.meta.url);
const ca = readFileSync(new URL('ca.pem', fixtures), 'utf8');
const serverTls = {
  key: readFileSync(new URL('server.key', fixtures)),
  cert: readFileSync(new URL('server.pem', fixtures)),
};
/** A probe that hangs fails its test instead of the whole file. */
const FAST = { timeout: 2_000 };

function check(options: HealthCheckOptions): ResolvedHealthCheck {
  return resolveHealthCheck(options, 'test');
}

/** Runs a probe and asserts it left no timer behind. */
async function run(
  url: string,
  options: HealthCheckOptions,
  targetOptions: TargetOptions = {},
): Promise<ProbeResult> {
  const target = resolveTarget(url, targetOptions, 'test');
  const resolved = check(options);
  const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = timers();
  const result = await probe(target, resolved);
  assert.equal(timers(), before, 'the probe left a timer running');
  return result;
}

interface Served {
  readonly port: number;
  /** Requests the server saw (HTTP servers only), upgrades included. */
  readonly requests: IncomingMessage[];
  /** Resolves when every connection the server accepted has closed. */
  settled(): Promise<void>;
  /** The server's count of open connections. */
  connections(): Promise<number>;
}

/** Listens on 127.0.0.1:0; after the test, waits for every accepted connection to close, then closes the server. */
async function serve(server: NetServer | HttpServer): Promise<Served> {
  const open = new Set<Socket>();
  const requests: IncomingMessage[] = [];
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  server.on('request', (req: IncomingMessage) => requests.push(req));
  // Only servers that handle upgrades see them: a listener here would swallow an upgrade Node otherwise answers.
  if (server.listenerCount('upgrade') > 0)
    server.prependListener('upgrade', (req: IncomingMessage) => requests.push(req));
  const settled = async (): Promise<void> => {
    await Promise.all([...open].map((socket) => once(socket, 'close')));
  };
  const port = await listen(server);
  defer(async () => {
    // A leaked probe socket keeps its server connection open.
    const leaked = new Promise<never>((_resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${open.size} connection(s) left open`)), 1_000);
      settled().finally(() => clearTimeout(timer));
    });
    try {
      await Promise.race([settled(), leaked]);
    } finally {
      for (const socket of open) socket.destroy();
      await closeServer(server);
    }
  });
  const connections = (): Promise<number> =>
    new Promise((resolve, reject) =>
      server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );
  return { port, requests, settled, connections };
}

/** An HTTP server answering every request with `status` and `body`. */
function answering(status: number, body = '', headers: Record<string, string> = {}): HttpServer {
  return createHttpServer((_req, res) => res.writeHead(status, headers).end(body));
}

/** Attaches a `ws` WebSocketServer to `server`'s upgrades. */
function withWebSockets<T extends HttpServer>(server: T): T {
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('error', () => undefined)),
  );
  return server;
}

/** A raw TCP server that writes `reply` to each connection once a request head arrived. */
function rawReplying(reply: string): NetServer {
  return createNetServer((socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) socket.write(reply);
    });
    socket.on('error', () => undefined);
  });
}

/** A TCP server that accepts, reads (so it sees the peer's FIN) and never says anything. */
function silent(): NetServer {
  return createNetServer((socket) => socket.resume().on('error', () => undefined));
}

describe('tcp probe', () => {
  test('passes when the connection opens', FAST, async () => {
    const { port } = await serve(silent());
    assert.deepEqual(await run(`http://127.0.0.1:${port}`, { type: 'tcp' }), { ok: true, detail: '' });
  });
  test('fails with ECONNREFUSED on a closed port', FAST, async () => {
    const port = await deadPort();
    assert.deepEqual(await run(`ws://127.0.0.1:${port}`, { type: 'tcp' }), {
      ok: false,
      detail: 'ECONNREFUSED',
    });
  });
  test(
    'a secure target must complete the TLS handshake, verified against tls.ca and tls.servername',
    FAST,
    async () => {
      const { port } = await serve(createHttpsServer(serverTls));
      const url = `wss://127.0.0.1:${port}`;
      assert.deepEqual(await run(url, { type: 'tcp' }, { tls: { ca } }), { ok: true, detail: '' });
      const untrusted = await run(url, { type: 'tcp' });
      assert.equal(untrusted.ok, false);
      assert.match(untrusted.detail, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
      const otherName = await run(url, { type: 'tcp' }, { tls: { ca, servername: 'example.com' } });
      assert.deepEqual(otherName, { ok: false, detail: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    },
  );
  test('a TLS server that never answers the ClientHello times out', FAST, async () => {
    const server = await serve(silent());
    const result = await run(
      `wss://127.0.0.1:${server.port}`,
      { type: 'tcp', timeout: 100 },
      { tls: { ca } },
    );
    assert.deepEqual(result, { ok: false, detail: 'timeout' });
    await server.settled();
  });
});

describe('http probe', () => {
  test('sends one GET to basePath + path with Host, Connection: close and User-Agent', FAST, async () => {
    const server = await serve(answering(200));
    const result = await run(`http://127.0.0.1:${server.port}/base`, {
      type: 'http',
      path: '/health?full=1',
    });
    assert.deepEqual(result, { ok: true, detail: '' });
    assert.equal(server.requests.length, 1);
    const [req] = server.requests;
    assert.equal(req!.method, 'GET');
    assert.equal(req!.url, '/base/health?full=1');
    assert.equal(req!.headers.host, `127.0.0.1:${server.port}`);
    assert.equal(req!.headers.connection, 'close');
    assert.equal(req!.headers['user-agent'], 'wstunnel-hcheck');
  });
  test('the path defaults to / (appended to the member path)', FAST, async () => {
    const server = await serve(answering(204));
    assert.equal((await run(`http://127.0.0.1:${server.port}`, { type: 'http' })).ok, true);
    assert.equal((await run(`http://127.0.0.1:${server.port}/app`, { type: 'http' })).ok, true);
    assert.deepEqual(
      server.requests.map((req) => req.url),
      ['/', '/app/'],
    );
  });
  test('500 fails, 301 passes (2xx and 3xx pass by default)', FAST, async () => {
    const failing = await serve(answering(500));
    assert.deepEqual(await run(`http://127.0.0.1:${failing.port}`, { type: 'http' }), {
      ok: false,
      detail: 'status 500',
    });
    const moved = await serve(answering(301, '', { Location: '/elsewhere' }));
    assert.deepEqual(await run(`http://127.0.0.1:${moved.port}`, { type: 'http' }), { ok: true, detail: '' });
    const info = await serve(answering(404));
    assert.deepEqual(await run(`http://127.0.0.1:${info.port}`, { type: 'http' }), {
      ok: false,
      detail: 'status 404',
    });
  });
  test('expectStatus replaces the default rule', FAST, async () => {
    const failing = await serve(answering(503));
    const ok = await serve(answering(200));
    const options: HealthCheckOptions = { type: 'http', expectStatus: [503] };
    assert.deepEqual(await run(`http://127.0.0.1:${failing.port}`, options), { ok: true, detail: '' });
    assert.deepEqual(await run(`http://127.0.0.1:${ok.port}`, options), { ok: false, detail: 'status 200' });
  });
  test('expectBody must match and rejectBody must not', FAST, async () => {
    const { port } = await serve(answering(200, '{"status":"UP","db":"degraded"}'));
    const url = `http://127.0.0.1:${port}`;
    assert.deepEqual(await run(url, { type: 'http', expectBody: /"status":"UP"/ }), { ok: true, detail: '' });
    assert.deepEqual(await run(url, { type: 'http', expectBody: /"status":"DOWN"/ }), {
      ok: false,
      detail: 'body did not match',
    });
    assert.deepEqual(await run(url, { type: 'http', rejectBody: /degraded/ }), {
      ok: false,
      detail: 'body matched rejectBody',
    });
    assert.deepEqual(await run(url, { type: 'http', expectBody: /UP/, rejectBody: /DOWN/ }), {
      ok: true,
      detail: '',
    });
  });
  test(
    'a /g pattern gives the same verdict on every probe (lastIndex is not carried over)',
    FAST,
    async () => {
      const { port } = await serve(answering(200, 'OK'));
      const target = resolveTarget(`http://127.0.0.1:${port}`, {}, 'test');
      const resolved = check({ type: 'http', expectBody: /OK/g });
      for (let i = 0; i < 3; i++) assert.deepEqual(await probe(target, resolved), { ok: true, detail: '' });
    },
  );
  test(
    'a body check does not fail on a bad status in the body: the status is judged first',
    FAST,
    async () => {
      const { port } = await serve(answering(500, 'OK'));
      assert.deepEqual(await run(`http://127.0.0.1:${port}`, { type: 'http', expectBody: /OK/ }), {
        ok: false,
        detail: 'status 500',
      });
    },
  );
  test(
    'only the first 64 KiB of the body are read: an endless body is judged without waiting for its end',
    FAST,
    async () => {
      const endless = createHttpServer((_req, res) => {
        res.writeHead(200);
        res.write(`OK${'x'.repeat(70_000)}END`);
      });
      const { port } = await serve(endless);
      assert.deepEqual(await run(`http://127.0.0.1:${port}`, { type: 'http', expectBody: /^OK/ }), {
        ok: true,
        detail: '',
      });
      assert.deepEqual(await run(`http://127.0.0.1:${port}`, { type: 'http', expectBody: /END/ }), {
        ok: false,
        detail: 'body did not match',
      });
    },
  );
  test(
    'HEAD and OPTIONS are sent as such; the body of an OPTIONS answer is judged like a GET one',
    FAST,
    async () => {
      const server = await serve(answering(200, 'Allow: GET'));
      const url = `http://127.0.0.1:${server.port}`;
      assert.deepEqual(await run(url, { type: 'http', method: 'HEAD' }), { ok: true, detail: '' });
      assert.deepEqual(await run(url, { type: 'http', method: 'OPTIONS', path: '/opt' }), {
        ok: true,
        detail: '',
      });
      assert.deepEqual(await run(url, { type: 'http', method: 'OPTIONS', rejectBody: /GET/ }), {
        ok: false,
        detail: 'body matched rejectBody',
      });
      assert.deepEqual(
        server.requests.map((req) => `${req.method} ${req.url}`),
        ['HEAD /', 'OPTIONS /opt', 'OPTIONS /'],
      );
    },
  );
  test(
    'a server that accepts and never answers times out within the deadline, leaving no connection',
    FAST,
    async () => {
      const server = await serve(silent());
      const started = performance.now();
      const result = await run(`http://127.0.0.1:${server.port}`, { type: 'http', timeout: 200 });
      const elapsed = performance.now() - started;
      assert.deepEqual(result, { ok: false, detail: 'timeout' });
      assert.ok(elapsed >= 190 && elapsed < 1_000, `took ${elapsed} ms`);
      await server.settled();
      assert.equal(await server.connections(), 0);
    },
  );
  test('without timeout the deadline is connectTimeout, capped at interval', FAST, async () => {
    const { port } = await serve(silent());
    const url = `http://127.0.0.1:${port}`;
    let started = performance.now();
    assert.deepEqual(await run(url, { type: 'http' }, { connectTimeout: 100 }), {
      ok: false,
      detail: 'timeout',
    });
    assert.ok(performance.now() - started < 1_000);
    started = performance.now();
    assert.deepEqual(await run(url, { type: 'http', interval: 100 }), { ok: false, detail: 'timeout' });
    assert.ok(performance.now() - started < 1_000);
  });
  test('a connection reset before the answer fails with ECONNRESET', FAST, async () => {
    const resetting = createNetServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const reset = await serve(resetting);
    assert.deepEqual(await run(`http://127.0.0.1:${reset.port}`, { type: 'http' }), {
      ok: false,
      detail: 'ECONNRESET',
    });
  });
  test('https: verified against tls.ca, failing without it', FAST, async () => {
    const { port } = await serve(createHttpsServer(serverTls, (_req, res) => res.end('secure')));
    const url = `https://127.0.0.1:${port}`;
    const options: HealthCheckOptions = { type: 'http', expectBody: /secure/ };
    assert.deepEqual(await run(url, options, { tls: { ca } }), { ok: true, detail: '' });
    const untrusted = await run(url, options);
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.detail, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
    assert.deepEqual(await run(url, options, { tls: { rejectUnauthorized: false } }), {
      ok: true,
      detail: '',
    });
  });
});

describe('websocket probe', () => {
  test('passes against a ws server, sending a WebSocket handshake to basePath + path', FAST, async () => {
    const server = await serve(withWebSockets(answering(404)));
    const result = await run(`ws://127.0.0.1:${server.port}/chat`, { type: 'websocket', path: '/live' });
    assert.deepEqual(result, { ok: true, detail: '' });
    const [req] = server.requests;
    assert.equal(req!.method, 'GET');
    assert.equal(req!.url, '/chat/live');
    assert.equal(req!.headers.host, `127.0.0.1:${server.port}`);
    assert.equal(req!.headers.upgrade, 'websocket');
    assert.equal(req!.headers.connection, 'Upgrade');
    assert.equal(req!.headers['sec-websocket-version'], '13');
    assert.equal(Buffer.from(req!.headers['sec-websocket-key']!, 'base64').length, 16);
    assert.equal(req!.headers['user-agent'], 'wstunnel-hcheck');
  });
  test('each probe sends a fresh Sec-WebSocket-Key', FAST, async () => {
    const server = await serve(withWebSockets(answering(404)));
    const url = `ws://127.0.0.1:${server.port}`;
    await run(url, { type: 'websocket' });
    await run(url, { type: 'websocket' });
    const [first, second] = server.requests.map((req) => req.headers['sec-websocket-key']);
    assert.notEqual(first, second);
  });
  test('a plain HTTP server answering 200 fails', FAST, async () => {
    const { port } = await serve(answering(200, 'hello'));
    assert.deepEqual(await run(`ws://127.0.0.1:${port}`, { type: 'websocket' }), {
      ok: false,
      detail: 'status 200',
    });
  });
  test('a 101 with a wrong Sec-WebSocket-Accept fails', FAST, async () => {
    const { port } = await serve(
      rawReplying(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
      ),
    );
    assert.deepEqual(await run(`ws://127.0.0.1:${port}`, { type: 'websocket' }), {
      ok: false,
      detail: 'bad Sec-WebSocket-Accept',
    });
  });
  test('a 101 switching to another protocol fails', FAST, async () => {
    const { port } = await serve(
      rawReplying('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'),
    );
    assert.deepEqual(await run(`ws://127.0.0.1:${port}`, { type: 'websocket' }), {
      ok: false,
      detail: 'bad Upgrade header',
    });
  });
  test('expectStatus replaces the default 101', FAST, async () => {
    const { port } = await serve(answering(426, 'upgrade elsewhere'));
    assert.deepEqual(await run(`ws://127.0.0.1:${port}`, { type: 'websocket', expectStatus: [426] }), {
      ok: true,
      detail: '',
    });
  });
  test('wss: verified against tls.ca, failing without it', FAST, async () => {
    const { port } = await serve(withWebSockets(createHttpsServer(serverTls)));
    const url = `wss://127.0.0.1:${port}`;
    assert.deepEqual(await run(url, { type: 'websocket' }, { tls: { ca } }), { ok: true, detail: '' });
    const untrusted = await run(url, { type: 'websocket' });
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.detail, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  });
  test('a server that never answers the handshake times out', FAST, async () => {
    const server = await serve(silent());
    assert.deepEqual(await run(`ws://127.0.0.1:${server.port}`, { type: 'websocket', timeout: 100 }), {
      ok: false,
      detail: 'timeout',
    });
    await server.settled();
    assert.equal(await server.connections(), 0);
  });
});

describe('resolveHealthCheck', () => {
  test('applies the mod_proxy_hcheck defaults', () => {
    assert.deepEqual(check({ type: 'http' }), {
      type: 'http',
      method: 'GET',
      path: '/',
      expectStatus: undefined,
      interval: 30_000,
      timeout: undefined,
      passes: 1,
      fails: 1,
    });
  });
  test('keeps given values', () => {
    const expectBody = /UP/;
    const rejectBody = /DOWN/;
    const resolved = check({
      type: 'http',
      method: 'GET',
      path: '/health?deep=1',
      expectStatus: [200, 204, 200],
      expectBody,
      rejectBody,
      interval: 5_000,
      timeout: 1_000,
      passes: 3,
      fails: 2,
    });
    assert.deepEqual(resolved, {
      type: 'http',
      method: 'GET',
      path: '/health?deep=1',
      expectStatus: new Set([200, 204]),
      expectBody,
      rejectBody,
      interval: 5_000,
      timeout: 1_000,
      passes: 3,
      fails: 2,
    });
    assert.equal(check({ type: 'websocket', path: '/ws', expectStatus: [101, 426] }).expectStatus?.size, 2);
    assert.equal(
      check({ type: 'tcp', interval: 10, timeout: 2 ** 31 - 1, passes: 100, fails: 100 }).fails,
      100,
    );
  });

  const invalid: [string, unknown, RegExp][] = [
    ['not an object', null, /a health check must be an object/],
    ['a string', 'tcp', /a health check must be an object/],
    ['an unknown option', { type: 'tcp', intervall: 1_000 }, /unknown health check option "intervall"/],
    ['no type', {}, /type must be/],
    ['an unknown type', { type: 'udp' }, /type must be/],
    ['an upper-case type', { type: 'HTTP' }, /type must be/],
    ['method POST', { type: 'http', method: 'POST' }, /method must be GET, HEAD or OPTIONS/],
    ['a lower-case method', { type: 'http', method: 'get' }, /method must be GET, HEAD or OPTIONS/],
    ['a method for tcp', { type: 'tcp', method: 'GET' }, /method applies to type 'http' only/],
    ['a method for websocket', { type: 'websocket', method: 'GET' }, /method applies to type 'http' only/],
    ['a path for tcp', { type: 'tcp', path: '/' }, /path does not apply/],
    ['a relative path', { type: 'http', path: 'health' }, /path must start with "\/"/],
    ['an empty path', { type: 'http', path: '' }, /path must start with "\/"/],
    ['an absolute URL as path', { type: 'http', path: 'http://x/' }, /path must start/],
    ['a path with a space', { type: 'http', path: '/a b' }, /path must start/],
    ['a path with a tab', { type: 'websocket', path: '/a\tb' }, /path must start/],
    ['a path with CRLF', { type: 'http', path: '/a\r\nX-Injected: 1' }, /path must start/],
    ['a path with NUL', { type: 'http', path: '/a\0' }, /path must start/],
    ['a path with DEL', { type: 'http', path: '/a\x7f' }, /path must start/],
    ['a path with a fragment', { type: 'http', path: '/a#top' }, /no "#"/],
    ['a path with non-ASCII', { type: 'http', path: '/café' }, /path must start/],
    ['a non-string path', { type: 'http', path: ['/'] }, /path must start/],
    ['expectStatus for tcp', { type: 'tcp', expectStatus: [200] }, /expectStatus does not apply/],
    ['expectStatus not an array', { type: 'http', expectStatus: 200 }, /non-empty array/],
    ['an empty expectStatus', { type: 'http', expectStatus: [] }, /non-empty array/],
    ['a status below 100', { type: 'http', expectStatus: [99] }, /expectStatus entries .* 100 to 599/],
    ['a status above 599', { type: 'http', expectStatus: [200, 600] }, /100 to 599/],
    ['a fractional status', { type: 'http', expectStatus: [200.5] }, /100 to 599/],
    ['a string status', { type: 'http', expectStatus: ['200'] }, /100 to 599/],
    ['expectBody not a RegExp', { type: 'http', expectBody: 'UP' }, /expectBody must be a RegExp/],
    ['rejectBody not a RegExp', { type: 'http', rejectBody: 'DOWN' }, /rejectBody must be a RegExp/],
    [
      'expectBody for websocket',
      { type: 'websocket', expectBody: /x/ },
      /expectBody applies to type 'http' with GET or OPTIONS only/,
    ],
    [
      'expectBody for tcp',
      { type: 'tcp', expectBody: /x/ },
      /expectBody applies to type 'http' with GET or OPTIONS only/,
    ],
    ['expectBody with HEAD', { type: 'http', method: 'HEAD', expectBody: /x/ }, /a HEAD answer has no body/],
    ['rejectBody with HEAD', { type: 'http', method: 'HEAD', rejectBody: /x/ }, /a HEAD answer has no body/],
    ['interval below 10 ms', { type: 'tcp', interval: 9 }, /interval \(ms\) must be a whole number from 10/],
    ['interval 0', { type: 'tcp', interval: 0 }, /interval/],
    ['a negative interval', { type: 'tcp', interval: -1 }, /interval/],
    ['a fractional interval', { type: 'tcp', interval: 1_000.5 }, /interval/],
    ['an interval over 2^31-1', { type: 'tcp', interval: 2 ** 31 }, /interval .* 2\^31-1/],
    ['a string interval', { type: 'tcp', interval: '1000' }, /interval/],
    ['a NaN interval', { type: 'tcp', interval: Number.NaN }, /interval/],
    ['an infinite interval', { type: 'tcp', interval: Number.POSITIVE_INFINITY }, /interval/],
    ['timeout below 10 ms', { type: 'tcp', timeout: 5 }, /timeout \(ms\) must be a whole number from 10/],
    ['timeout 0', { type: 'tcp', timeout: 0 }, /timeout/],
    ['a fractional timeout', { type: 'tcp', timeout: 1.5 }, /timeout/],
    ['a timeout over 2^31-1', { type: 'tcp', timeout: 2 ** 31 }, /timeout/],
    ['a string timeout', { type: 'tcp', timeout: '100' }, /timeout/],
    ['passes 0', { type: 'tcp', passes: 0 }, /passes must be a whole number from 1 to 100/],
    ['passes 101', { type: 'tcp', passes: 101 }, /passes/],
    ['fractional passes', { type: 'tcp', passes: 1.5 }, /passes/],
    ['fails 0', { type: 'tcp', fails: 0 }, /fails must be a whole number from 1 to 100/],
    ['fails 101', { type: 'tcp', fails: 101 }, /fails/],
    ['string fails', { type: 'tcp', fails: '2' }, /fails/],
  ];
  for (const [name, options, message] of invalid) {
    test(`rejects ${name}`, () => {
      assert.throws(
        () => resolveHealthCheck(options as HealthCheckOptions, 'balancer://api (b1) healthCheck'),
        (error: unknown) => {
          assert.ok(error instanceof WstunnelConfigError);
          assert.equal(error.code, 'ERR_WSTUNNEL_INVALID_BALANCER');
          assert.ok(error.message.startsWith('balancer://api (b1) healthCheck: '), error.message);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});
