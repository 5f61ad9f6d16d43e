// Why: each bug found in review gets a test named after its symptom, so it cannot come back unnoticed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { createWstunnel, type TunnelError, WstunnelConfigError } from '@wstunnel/core';
import { WebSocket } from 'ws';
import { startRawBackend, switching, switchingFor } from '../helpers/backends.ts';
import { cleanupAfterEach, listenAttached, rawGateway } from '../helpers/cleanup.ts';
import { closed } from '../helpers/gateway.ts';
import {
  closeServer,
  handshakeRequest,
  listen,
  rawConnect,
  rawExchange,
  readAll,
  readHead,
  statusOf,
} from '../helpers/net.ts';

const defer = cleanupAfterEach();

describe('regressions found in review', () => {
  test('invalid TLS material is a configuration error, not a crash on the first upgrade', () => {
    for (const tls of [{ cert: Buffer.from('not a pem') }, { key: 'nope' }, { ca: 'not a certificate' }]) {
      assert.throws(
        () => createWstunnel({ rules: [{ path: '/wss/', target: 'wss://b.example/', tls }] }),
        (error: unknown) =>
          error instanceof WstunnelConfigError && error.code === 'ERR_WSTUNNEL_INVALID_OPTION',
      );
    }
  });

  test('a decoded path handed to handleUpgrade cannot split the backend request (CVE-2023-25690 class)', async () => {
    const { backend } = await rawGateway(defer, () => undefined);
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const server = createServer();
    server.on(
      'upgrade',
      (req, socket, head) => void tunnel.handleUpgrade(req, socket, head, decodeURIComponent(req.url ?? '')),
    );
    const port = await listen(server);
    defer(
      () => tunnel.close(),
      () => closeServer(server),
    );
    for (const path of [
      '/ws/x%20HTTP/1.1%0d%0aHost:%20a%0d%0a%0d%0aGET%20/admin',
      '/ws/%2e%2e/admin',
      '/ws/%C3%A9',
    ]) {
      const failed = once(tunnel, 'failed');
      assert.equal(statusOf(await rawExchange(port, handshakeRequest(path))), 400, path);
      assert.equal(((await failed)[0] as TunnelError).code, 'ERR_WSTUNNEL_BAD_REQUEST');
    }
    assert.equal(backend.connections, 0, 'the backend was dialled');
  });

  test('a refusal still being relayed counts toward size and max, and close() cuts it at the deadline', async () => {
    const { backend, gateway } = await rawGateway(
      defer,
      (socket) => socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\nslow'),
      {
        max: 1,
      },
    );
    const first = await rawConnect(gateway.port);
    const firstAll = readAll(first);
    first.write(handshakeRequest('/ws/'));
    await readHead(first);
    assert.equal(gateway.tunnel.size, 1, 'the relay is not tracked');
    assert.equal(
      statusOf(await rawExchange(gateway.port, handshakeRequest('/ws/'))),
      503,
      'max ignored the relay',
    );
    assert.equal(backend.connections, 1);
    await gateway.tunnel.close({ timeout: 50 });
    assert.equal(gateway.tunnel.size, 0);
    await firstAll;
  });

  test('with closeFrames, backend bytes that came with the 101 do not make the close frame land inside a frame', async () => {
    const frame = Buffer.concat([Buffer.from([0x82, 126, 0, 200]), Buffer.alloc(200, 0x61)]);
    let sendRest!: () => void;
    const { gateway } = await rawGateway(
      defer,
      (socket, head) => {
        socket.write(Buffer.concat([Buffer.from(switchingFor(head)), frame.subarray(0, 54)]));
        sendRest = () => socket.write(frame.subarray(54));
        socket.on('data', () => undefined);
      },
      { closeFrames: true },
    );
    const client = new WebSocket(gateway.ws('/ws/'));
    const messages: Buffer[] = [];
    client.on('message', (data: Buffer) => messages.push(data));
    await once(gateway.tunnel, 'open');
    const ended = closed(client);
    const closing = gateway.tunnel.close({ timeout: 0 });
    sendRest();
    assert.equal((await ended).code, 1001);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.length, 200);
    await closing;
  });

  test('an ordinary request offering Upgrade: h2c still reaches the app once a tunnel is attached', async () => {
    const server = createServer((req, res) => {
      if (!tunnel.handleRequest(req, res)) res.end(`app page for ${req.url}`);
    });
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const port = await listenAttached(defer, tunnel, server);
    const response = await rawExchange(
      port,
      'GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    assert.equal(statusOf(response), 200);
    assert.match(response, /app page for \/index\.html$/);
  });

  test('a pipelined upgrade does not get its 101 ahead of the response to the request before it', async () => {
    const backend = await startRawBackend((socket) => socket.write(`${switching()}TUNNEL`));
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const server = createServer((_req, res) => {
      setTimeout(() => res.end('SLOW-RESPONSE'), 50);
    });
    tunnel.attach(server);
    const port = await listen(server);
    defer(
      () => tunnel.close({ timeout: 0 }),
      () => closeServer(server),
      () => backend.close(),
    );
    const client = await rawConnect(port);
    const all = readAll(client);
    client.write(`GET /slow HTTP/1.1\r\nHost: x\r\n\r\n${handshakeRequest('/ws/')}`);
    await once(tunnel, 'open');
    const [text] = await Promise.all([all.then((b) => b.toString('latin1')), tunnel.close({ timeout: 0 })]);
    const slowAt = text.indexOf('SLOW-RESPONSE');
    const switchAt = text.indexOf('HTTP/1.1 101');
    assert.ok(slowAt !== -1 && switchAt !== -1, text);
    assert.ok(slowAt < switchAt, `the 101 overtook the earlier response: ${JSON.stringify(text)}`);
    assert.ok(text.endsWith('TUNNEL'));
  });

  test('a Host header with a NUL (lenient parser) is refused, not forwarded', async () => {
    const backend = await startRawBackend(() => undefined);
    const tunnel = createWstunnel({
      rules: [{ path: '/ws/', target: `${backend.origin}/`, preserveHost: true }],
    });
    const server = createServer({ insecureHTTPParser: true });
    tunnel.attach(server);
    const port = await listen(server);
    defer(
      () => tunnel.close(),
      () => closeServer(server),
      () => backend.close(),
    );
    const response = await rawExchange(port, handshakeRequest('/ws/', { Host: 'a\0b' }));
    assert.equal(statusOf(response), 400);
    assert.equal(backend.connections, 0);
  });

  test('a chunked refusal cut short by the backend resets the client instead of ending cleanly', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly part'),
    );
    const client = await rawConnect(gateway.port);
    const errored = once(client, 'error').then(([error]) => (error as NodeJS.ErrnoException).code);
    client.write(handshakeRequest('/ws/'));
    assert.equal(await errored, 'ECONNRESET');
  });

  test('a backend dribbling its answer byte by byte still gets 504 at the timeout (a deadline, not inactivity)', async () => {
    const { gateway } = await rawGateway(
      defer,
      (socket) => {
        const answer = 'HTTP/1.1 101 Switching Protocols\r\nX-Padding: ' + 'x'.repeat(200);
        let i = 0;
        const tick = setInterval(() => {
          if (socket.destroyed || i >= answer.length) return clearInterval(tick);
          socket.write(answer[i++]!);
        }, 20);
      },
      { timeout: 300 },
    );
    const started = Date.now();
    assert.equal(statusOf(await rawExchange(gateway.port, handshakeRequest('/ws/'))), 504);
    assert.ok(Date.now() - started < 2_000, 'the handshake outlived its timeout');
  });

  test('a relayed 204 does not advertise a Content-Length (RFC 9110 8.6)', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n'),
    );
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 204);
    assert.doesNotMatch(response, /Content-Length/i);
  });
});

describe('differences from Apache 2.4.71 found side by side', () => {
  test('a relayed 426 names its Upgrade in Connection (RFC 9110 7.8), as Apache does', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end(
        'HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 4\r\n\r\nnope',
      ),
    );
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.match(response, /\r\nUpgrade: websocket\r\n/);
    assert.match(response, /\r\nConnection: Upgrade, close\r\n/);
  });

  test("the 101 carries the backend's Upgrade value, not the client's spelling", async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.write(switching().replace('Upgrade: websocket', 'Upgrade: WebSocket')),
    );
    const client = await rawConnect(gateway.port);
    client.write(handshakeRequest('/ws/', { Upgrade: 'websocket' }));
    const { head } = await readHead(client);
    assert.match(head, /\r\nConnection: Upgrade\r\nUpgrade: WebSocket$/);
    client.destroy();
  });

  test('a relayed refusal keeps Content-Length where the backend put it and gains a Date', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Backend: r\r\n\r\nno',
      ),
    );
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.match(
      response,
      /^HTTP\/1\.1 401 Unauthorized\r\nDate: .+ GMT\r\nContent-Type: text\/plain\r\nContent-Length: 2\r\nX-Backend: r\r\nConnection: close\r\n\r\nno$/,
    );
  });

  test("an upgrade to a token the route does not allow is proxied as plain HTTP, as Apache's mod_proxy_http does", async () => {
    const { backend, gateway } = await rawGateway(defer, (socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain'),
    );
    const response = await rawExchange(
      gateway.port,
      handshakeRequest('/ws/', {
        Upgrade: 'h2c',
        Connection: 'Upgrade, HTTP2-Settings, close',
        'HTTP2-Settings': 'AAMAAABkAAQAAP__',
      }),
    );
    // Apache (ProxyWebsocketFallbackToProxyHttp On) answered the backend's 200, never a 426 of its own.
    assert.equal(statusOf(response), 200, response);
    assert.match(response, /\r\n\r\nplain$/);
    assert.deepEqual(response.match(/\r\nconnection:[^\r]*/gi), ['\r\nconnection: close'], response);
    assert.equal(backend.heads.length, 1);
    assert.match(backend.heads[0]!, /^GET \/ HTTP\/1\.1\r\n/);
    assert.doesNotMatch(backend.heads[0]!, /^(?:upgrade|http2-settings):/im, 'mod_proxy_http strips Upgrade');
    assert.doesNotMatch(backend.heads[0]!, /^connection:.*upgrade/im);
  });
});

describe('regressions found in the second review', () => {
  test('a refusal whose last bytes are still queued when the backend closes is delivered whole, not reset', async () => {
    const body = 'r'.repeat(100_000);
    const backendClosed = Promise.withResolvers<void>();
    const { gateway } = await rawGateway(defer, (socket) => {
      socket.on('close', () => backendClosed.resolve());
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    // Instrument the gateway's real client socket: count resets, and hold its final end() until the backend has
    // closed, which is the moment a slow reader still has bytes queued.
    let resets = 0;
    const ending = Promise.withResolvers<() => void>();
    gateway.server.on('connection', (socket) => {
      const reset = socket.resetAndDestroy.bind(socket);
      socket.resetAndDestroy = () => {
        resets++;
        return reset();
      };
      const end = socket.end.bind(socket) as (...args: unknown[]) => void;
      socket.end = ((...args: unknown[]) => {
        ending.resolve(() => end(...args));
        return socket;
      }) as typeof socket.end;
    });
    const client = await rawConnect(gateway.port);
    const all = readAll(client);
    client.write(handshakeRequest('/ws/'));
    const release = await ending.promise;
    await backendClosed.promise;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(resets, 0, 'the backend closing after a complete relay reset the client');
    release();
    const received = (await all).toString('latin1');
    assert.ok(received.endsWith(body), `the relayed body was cut: ${received.length} bytes received`);
  });

  test('tls.servername and tls.rejectUnauthorized of the wrong type are configuration errors', () => {
    for (const tls of [{ servername: 42 }, { rejectUnauthorized: 'no' }]) {
      assert.throws(
        () => createWstunnel({ rules: [{ path: '/wss/', target: 'wss://b.example/', tls: tls as never }] }),
        (error: unknown) =>
          error instanceof WstunnelConfigError && error.code === 'ERR_WSTUNNEL_INVALID_OPTION',
      );
    }
  });

  test('an unclaimed upgrade pipelined behind another request is answered after it, without crashing the server', async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const server = createServer((req, res) => {
      res.end(`page for ${req.url}`);
    });
    const port = await listenAttached(defer, tunnel, server);
    const response = await rawExchange(
      port,
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n',
    );
    const first = response.indexOf('page for /a');
    const second = response.indexOf('page for /b');
    assert.ok(first !== -1 && second > first, response);
  });

  test('a client resetting while its pipelined upgrade waits for the earlier response does not crash the process', async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const reset = Promise.withResolvers<void>();
    const server = createServer((_req, res) => {
      void reset.promise.then(() => res.end('late'));
    });
    tunnel.attach(server);
    const port = await listen(server);
    defer(
      () => tunnel.close({ timeout: 0 }),
      () => closeServer(server),
    );
    const client = await rawConnect(port);
    client.write(`GET /slow HTTP/1.1\r\nHost: x\r\n\r\n${handshakeRequest('/ws/')}`);
    await once(server, 'request');
    client.resetAndDestroy();
    await once(client, 'close');
    reset.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(tunnel.size, 0);
  });

  test('a request served through the plain path emits close on its response and request, as any request does', async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const events: string[] = [];
    const bothClosed = Promise.withResolvers<void>();
    const server = createServer((req, res) => {
      res.on('close', () => {
        events.push('res close');
        if (events.length === 2) bothClosed.resolve();
      });
      req.on('close', () => {
        events.push('req close');
        if (events.length === 2) bothClosed.resolve();
      });
      res.end('page');
    });
    const port = await listenAttached(defer, tunnel, server);
    await rawExchange(
      port,
      'GET /page HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n',
    );
    await bothClosed.promise;
    assert.deepEqual(events.sort(), ['req close', 'res close']);
  });
});

describe('regressions found in the third review', () => {
  test('the 1001 shutdown keeps backpressure: a client that does not read does not make the gateway buffer without bound', async () => {
    // The backend is in the middle of a 1 GiB binary frame when the drain deadline comes.
    const { gateway } = await rawGateway(
      defer,
      (socket, head) => {
        socket.write(switchingFor(head));
        const header = Buffer.from([0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0]);
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        socket.write(header);
        const pump = (): void => {
          while (!socket.destroyed && socket.write(chunk));
          if (!socket.destroyed) socket.once('drain', pump);
        };
        pump();
        socket.on('error', () => undefined);
      },
      { closeFrames: true },
    );
    let maxQueued = 0;
    gateway.server.on('connection', (socket) => {
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((...args: unknown[]) => {
        const flowing = write(...args);
        maxQueued = Math.max(maxQueued, socket.writableLength);
        return flowing;
      }) as typeof socket.write;
    });
    const client = await rawConnect(gateway.port);
    client.on('error', () => undefined);
    client.write(handshakeRequest('/ws/'));
    await once(gateway.tunnel, 'open');
    client.pause();
    await gateway.tunnel.close({ timeout: 0 });
    assert.ok(
      maxQueued < 8 * 1024 * 1024,
      `the gateway queued ${maxQueued} bytes for a client that was not reading`,
    );
  });

  test('with closeFrames, shutting down a half-closed tunnel still ends it with a 1001, not an abrupt close', async () => {
    const frame = Buffer.concat([Buffer.from([0x82, 126, 0x10, 0]), Buffer.alloc(4096, 0x62)]);
    const finForwarded = Promise.withResolvers<void>();
    const { gateway } = await rawGateway(
      defer,
      (socket, head) => {
        socket.write(Buffer.concat([Buffer.from(switchingFor(head)), frame]));
        socket.on('end', () => finForwarded.resolve());
      },
      { closeFrames: true },
    );
    const client = new WebSocket(gateway.ws('/ws/'));
    const messages: Buffer[] = [];
    client.on('message', (data: Buffer) => messages.push(data));
    await once(client, 'open');
    // The client half-closes its TCP side; the gateway forwards that FIN to the backend, then drains.
    (client as unknown as { _socket: import('node:net').Socket })._socket.end();
    await finForwarded.promise;
    const ended = closed(client);
    const tunnelClosed = once(gateway.tunnel, 'close');
    await gateway.tunnel.close({ timeout: 0 });
    assert.equal((await ended).code, 1001);
    assert.equal(
      (await tunnelClosed)[1].reason,
      'shutdown',
      'a tunnel ended by the drain is reported as shutdown',
    );
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.length, 4096);
  });

  test('proxy-nohalfclose delivers everything the backend sent before its FIN while the client keeps sending', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024, 0x63);
    const { gateway } = await rawGateway(
      defer,
      (socket) => {
        socket.write(switching());
        socket.end(payload);
        socket.on('error', () => undefined);
      },
      { halfClose: false },
    );
    const client = await rawConnect(gateway.port);
    const all = readAll(client);
    client.write(handshakeRequest('/ws/'));
    // Keep sending while the backend's bytes are still being flushed toward us.
    const ticker = setInterval(() => client.writable && client.write('ping'), 1);
    const received = await all;
    clearInterval(ticker);
    assert.equal(
      received.length - received.indexOf('\r\n\r\n') - 4,
      payload.length,
      'bytes in flight were lost',
    );
  });

  test('an upgrade owner whose route() throws gets the client a 500, and the process survives', async () => {
    const { attachUpgradeOwner } = await import('@wstunnel/core');
    const server = createServer();
    const detach = attachUpgradeOwner(server, {
      route() {
        throw new Error('adapter bug');
      },
    });
    const warned = once(process, 'warning');
    const port = await listen(server);
    defer(
      () => detach(),
      () => closeServer(server),
    );
    assert.equal(statusOf(await rawExchange(port, handshakeRequest('/ws/'))), 500);
    assert.match(String(((await warned) as [Error])[0].message), /adapter bug/);
  });
});

describe('upgrades nobody tunnels stay ordinary requests', () => {
  test('a POST with Upgrade: h2c and a body (curl --http2 -d) reaches the app with its body once a tunnel is attached', async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk;
      });
      req.on('end', () => res.writeHead(200, { Connection: 'close' }).end(`app got ${body}`));
    });
    const port = await listenAttached(defer, tunnel, server);
    const response = await rawExchange(
      port,
      'POST /form HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 7\r\n\r\na=1&b=2',
    );
    assert.equal(statusOf(response), 200, response);
    assert.match(response, /app got a=1&b=2/);
  });
});

describe('regressions found in the last review', () => {
  test('after detach, a shouldUpgradeCallback that someone wrapped over ours no longer hides upgrades from other listeners', async () => {
    const server = createServer((_req, res) => res.end('request path'));
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const detach = tunnel.attach(server);
    const target = server as typeof server & { shouldUpgradeCallback: (req: unknown) => boolean };
    const ours = target.shouldUpgradeCallback;
    target.shouldUpgradeCallback = function (req) {
      return ours.call(this, req);
    };
    detach();
    server.on('upgrade', (_req, socket) =>
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n'),
    );
    const port = await listen(server);
    defer(
      () => tunnel.close(),
      () => closeServer(server),
    );
    assert.equal(statusOf(await rawExchange(port, handshakeRequest('/other'))), 101);
  });
});
