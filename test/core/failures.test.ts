// Why: every network failure path (backend down, slow, silent, refusing, resetting; client leaving early) must end
// in a complete HTTP answer or a clean teardown, never a hang, a crash or a leaked socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { createWstunnel, type TunnelError, type TunnelOutcome } from '@wstunnel/core';
import { WebSocket } from 'ws';
import { type RawScript, startRawBackend, switching } from '../helpers/backends.ts';
import { cleanupAfterEach, echoGateway, rawGateway } from '../helpers/cleanup.ts';
import { closed, openClient, roundTrip, startTestGateway } from '../helpers/gateway.ts';
import {
  closeServer,
  deadPort,
  handshakeRequest,
  listen,
  rawConnect,
  rawExchange,
  readAll,
  readHead,
  statusOf,
} from '../helpers/net.ts';

const defer = cleanupAfterEach();

describe('backend failures before the 101', () => {
  test('backend down: the client gets a 502 naming the refusal, quickly', async () => {
    const gateway = await startTestGateway({
      rules: [{ path: '/ws/', target: `ws://127.0.0.1:${await deadPort()}/` }],
    });
    defer(() => gateway.close(0));
    const failed = once(gateway.tunnel, 'failed');
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 502);
    assert.match(response, /Connection: close/);
    assert.match(response, /ECONNREFUSED/);
    const [error] = (await failed) as [TunnelError];
    assert.equal(error.code, 'ERR_WSTUNNEL_CONNECT');
    assert.equal(gateway.tunnel.size, 0);
  });

  test('backend resets the connection on the handshake: 502', async () => {
    const { gateway } = await rawGateway(defer, (socket) => socket.resetAndDestroy());
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 502);
  });

  test('backend closes without answering: 502', async () => {
    const { gateway } = await rawGateway(defer, (socket) => socket.end());
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 502);
  });

  test('backend accepts but never answers: 504 after the handshake timeout', async () => {
    const { gateway } = await rawGateway(defer, () => undefined, { timeout: 250 });
    const started = Date.now();
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 504);
    assert.ok(Date.now() - started >= 240, 'answered before the timeout');
    assert.ok(Date.now() - started < 5_000, 'took far longer than the timeout');
  });

  test('backend connection never completes (TLS never answered): 504 after the connect timeout', async () => {
    // Reads (and ignores) the ClientHello, so the gateway's FIN is seen and the connection really closes.
    const silent = createServer((socket) => socket.on('error', () => undefined).resume());
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    const gateway = await startTestGateway({
      rules: [{ path: '/ws/', target: `wss://127.0.0.1:${port}/`, connectTimeout: 200, timeout: 10_000 }],
    });
    defer(
      () => gateway.close(0),
      () => closeServer(silent),
    );
    const failed = once(gateway.tunnel, 'failed');
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 504);
    assert.equal(((await failed)[0] as TunnelError).code, 'ERR_WSTUNNEL_CONNECT_TIMEOUT');
  });

  test('a slow backend that answers within the timeout still opens the tunnel, with early client bytes held', async () => {
    const headArrived = Promise.withResolvers<void>();
    const answer = Promise.withResolvers<void>();
    const { backend, gateway } = await rawGateway(
      defer,
      (socket) => {
        headArrived.resolve();
        void answer.promise.then(() => socket.write(switching()));
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
      },
      { timeout: 5_000 },
    );
    const client = await rawConnect(gateway.port);
    client.write(`${handshakeRequest('/ws/')}EARLY`);
    await headArrived.promise;
    // Give the gateway a full turn of the event loop to (wrongly) forward the early bytes.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      Buffer.concat(backend.bodies[0] ?? []).length,
      0,
      'early bytes reached the backend before its 101',
    );
    answer.resolve();
    const { head, rest } = await readHead(client);
    assert.match(head, /^HTTP\/1\.1 101 /);
    const echoed = rest.length >= 5 ? rest : Buffer.concat([rest, (await once(client, 'data'))[0] as Buffer]);
    assert.equal(echoed.toString(), 'EARLY');
    client.destroy();
  });

  test('backend refuses with 401 and a body: status, headers and body reach the client, then the connection closes', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\nContent-Length: 12\r\n\r\nlog in first',
      ),
    );
    const refused = once(gateway.tunnel, 'refused');
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.match(response, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(response, /WWW-Authenticate: Bearer realm="x"\r\n/);
    assert.match(response, /Content-Length: 12\r\n/);
    assert.match(response, /Connection: close\r\n/);
    assert.ok(response.endsWith('\r\n\r\nlog in first'));
    assert.equal((await refused)[1], 401);
  });

  test('a ws client sees the backend 401 as an HTTP 401, not an open socket followed by 1011', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'),
    );
    const client = new WebSocket(gateway.ws('/ws/'));
    client.on('error', () => undefined);
    const [, res] = await once(client, 'unexpected-response');
    assert.equal(res.statusCode, 401);
    client.terminate();
  });

  for (const status of [404, 418, 426]) {
    test(`backend ${status} with a chunked body is relayed whole, decoded, and the connection closed`, async () => {
      const { gateway } = await rawGateway(defer, (socket) =>
        socket.write(
          `HTTP/1.1 ${status} Whatever\r\nTransfer-Encoding: chunked\r\nUpgrade: websocket\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
        ),
      );
      const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
      assert.equal(statusOf(response), status);
      assert.ok(response.endsWith('\r\n\r\nhello world'), JSON.stringify(response));
      assert.doesNotMatch(response, /Transfer-Encoding/i);
      assert.equal(/\r\nUpgrade: websocket/.test(response), status === 426, 'Upgrade is kept on a 426 only');
    });
  }

  test('a backend refusal with a close-delimited body is relayed until the backend closes', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\nno entry here'),
    );
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 403);
    assert.ok(response.endsWith('\r\n\r\nno entry here'));
  });

  test('a refusal whose body is cut short by the backend is not completed with made-up bytes', async () => {
    const { gateway } = await rawGateway(defer, (socket) =>
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\nshort'),
    );
    const response = await rawExchange(gateway.port, handshakeRequest('/ws/'));
    assert.equal(statusOf(response), 404);
    assert.ok(response.endsWith('short'));
  });
});

describe('the client leaving or resetting', () => {
  test('a client that leaves while the backend handshake is pending aborts it', async () => {
    let backendSocketEnded!: Promise<unknown>;
    const reached = Promise.withResolvers<void>();
    const { gateway } = await rawGateway(defer, (socket) => {
      backendSocketEnded = once(socket, 'end');
      reached.resolve();
    });
    const failed = once(gateway.tunnel, 'failed');
    const client = await rawConnect(gateway.port);
    client.write(handshakeRequest('/ws/'));
    await reached.promise;
    assert.equal(gateway.tunnel.size, 1);
    client.destroy();
    await backendSocketEnded;
    assert.equal(((await failed)[0] as TunnelError).code, 'ERR_WSTUNNEL_CLIENT_GONE');
    assert.equal(gateway.tunnel.size, 0);
  });

  test('a client that half-closes while a refusal is being relayed still receives all of it', async () => {
    const finish = Promise.withResolvers<void>();
    const { gateway } = await rawGateway(defer, (socket) => {
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\n\r\ndenied');
      void finish.promise.then(() => socket.end(' fully'));
    });
    const client = await rawConnect(gateway.port);
    client.write(handshakeRequest('/ws/'));
    const { head, rest } = await readHead(client);
    assert.match(head, /^HTTP\/1\.1 403 /);
    const remaining = readAll(client);
    client.end();
    finish.resolve();
    assert.equal(Buffer.concat([rest, await remaining]).toString(), 'denied fully');
  });

  test('a socket that is already destroyed when handed over is not tunnelled and nothing is dialled', async () => {
    const backend = await startRawBackend(() => assert.fail('the backend was dialled'));
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const outcomes: TunnelOutcome[] = [];
    const server = createHttpServer();
    server.on('upgrade', (req, socket, head) => {
      socket.destroy();
      void tunnel.handleUpgrade(req, socket, head).then((outcome) => outcomes.push(outcome));
    });
    const port = await listen(server);
    const failed = once(tunnel, 'failed');
    await rawExchange(port, handshakeRequest('/ws/'));
    assert.equal(((await failed)[0] as TunnelError).code, 'ERR_WSTUNNEL_CLIENT_GONE');
    assert.equal(tunnel.size, 0);
    assert.equal(backend.connections, 0);
    await tunnel.close();
    await closeServer(server);
    await backend.close();
  });

  test('a client that resets an open tunnel closes the backend side, and the tunnel count returns to 0', async () => {
    const { backend, gateway } = await echoGateway(defer);
    const client = await rawConnect(gateway.port);
    client.write(handshakeRequest('/ws/'));
    await readHead(client);
    const serverSide = [...backend.wss.clients][0]!;
    const backendClosed = once(serverSide, 'close');
    const tunnelClosed = once(gateway.tunnel, 'close');
    client.resetAndDestroy();
    const [code] = (await backendClosed) as [number];
    assert.equal(code, 1006);
    const [, stats] = await tunnelClosed;
    assert.match(stats.reason, /^client-/);
    assert.equal(gateway.tunnel.size, 0);
  });

  test('a backend that resets an open tunnel closes the client abnormally, and the count returns to 0', async () => {
    const { gateway } = await rawGateway(defer, (socket) => {
      socket.write(switching());
      socket.once('data', () => socket.resetAndDestroy());
    });
    const client = await rawConnect(gateway.port);
    const everything = readAll(client);
    client.write(handshakeRequest('/ws/'));
    const tunnelClosed = once(gateway.tunnel, 'close');
    await once(gateway.tunnel, 'open');
    client.write('trigger');
    await everything;
    const [, stats] = await tunnelClosed;
    assert.equal(stats.reason, 'backend-error');
    assert.equal(gateway.tunnel.size, 0);
  });

  test('a client leaving right after the 101 tears down the backend exactly once', async () => {
    const { backend, gateway } = await echoGateway(defer);
    let closes = 0;
    gateway.tunnel.on('close', () => closes++);
    const client = await openClient(gateway.ws('/ws/'));
    const serverSide = [...backend.wss.clients][0]!;
    client.terminate();
    await once(serverSide, 'close');
    await once(gateway.tunnel, 'close').catch(() => undefined);
    assert.equal(closes, 1);
    assert.equal(gateway.tunnel.size, 0);
  });
});

describe('half-close and idle timeout', () => {
  /** A raw upgraded backend that echoes, and after the client's EOF still sends "BYE-AFTER-EOF" before ending. */
  const lateBye: RawScript = (socket) => {
    socket.write(switching());
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end('BYE-AFTER-EOF'));
  };

  test('a client half-close is forwarded and the backend can still answer after it (Apache default)', async () => {
    const { gateway } = await rawGateway(defer, lateBye);
    const client = await rawConnect(gateway.port);
    client.write(handshakeRequest('/ws/'));
    const { rest } = await readHead(client);
    const everything = readAll(client);
    client.end('last words');
    const received = Buffer.concat([rest, await everything]).toString();
    assert.equal(received, 'last wordsBYE-AFTER-EOF');
  });

  test('with halfClose off, the first EOF ends both sides and late backend bytes are not delivered', async () => {
    const { gateway } = await rawGateway(defer, lateBye, { halfClose: false });
    const client = await rawConnect(gateway.port);
    client.write(handshakeRequest('/ws/'));
    await readHead(client);
    const everything = readAll(client);
    const tunnelClosed = once(gateway.tunnel, 'close');
    client.end();
    assert.doesNotMatch((await everything).toString(), /BYE-AFTER-EOF/);
    assert.equal((await tunnelClosed)[1].reason, 'client-closed');
  });

  test('an idle tunnel is closed after idleTimeout, and traffic in either direction resets the timer', async () => {
    const { gateway } = await echoGateway(defer, { idleTimeout: 300 });
    const client = await openClient(gateway.ws('/ws/'));
    const opened = Date.now();
    // Keep it busy for well over one idle period with messages every 100 ms.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await roundTrip(client, `tick ${i}`);
    }
    assert.ok(Date.now() - opened >= 600, 'traffic should have kept the tunnel open past the idle timeout');
    const tunnelClosed = once(gateway.tunnel, 'close');
    const { code } = await closed(client);
    assert.equal(code, 1006);
    assert.equal((await tunnelClosed)[1].reason, 'idle-timeout');
  });
});

describe('TLS backends (wss://)', () => {
  const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

  async function startTlsEcho(requestCert: boolean) {
    const { readFileSync } = await import('node:fs');
    const { createServer: createHttps } = await import('node:https');
    const { WebSocketServer } = await import('ws');
    const server = createHttps({
      cert: readFileSync(fixture('server.pem')),
      key: readFileSync(fixture('server.key')),
      ca: readFileSync(fixture('ca.pem')),
      requestCert,
      rejectUnauthorized: requestCert,
    });
    const wss = new WebSocketServer({ server });
    const peers: unknown[] = [];
    wss.on('connection', (socket, req) => {
      const cert = (req.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
      peers.push(cert?.subject?.CN);
      socket.on('message', (data, binary) => socket.send(data, { binary }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    defer(async () => {
      for (const client of wss.clients) client.terminate();
      await closeServer(server);
    });
    return { port, peers };
  }

  test('verifies the backend against the configured CA and SNI name, and tunnels', async () => {
    const { readFileSync } = await import('node:fs');
    const { port } = await startTlsEcho(false);
    const gateway = await startTestGateway({
      rules: [
        { path: '/wss/', target: `wss://localhost:${port}/`, tls: { ca: readFileSync(fixture('ca.pem')) } },
      ],
    });
    defer(() => gateway.close(0));
    const client = await openClient(gateway.ws('/wss/'));
    assert.equal((await roundTrip(client, 'over tls')).data.toString(), 'over tls');
    client.close();
  });

  test('an untrusted backend certificate is a 502, not a tunnel', async () => {
    const { port } = await startTlsEcho(false);
    const gateway = await startTestGateway({
      rules: [{ path: '/wss/', target: `wss://localhost:${port}/` }],
    });
    defer(() => gateway.close(0));
    const response = await rawExchange(gateway.port, handshakeRequest('/wss/'));
    assert.equal(statusOf(response), 502);
  });

  test('rejectUnauthorized: false accepts an untrusted backend certificate', async () => {
    const { port } = await startTlsEcho(false);
    const gateway = await startTestGateway({
      rules: [{ path: '/wss/', target: `wss://127.0.0.1:${port}/`, tls: { rejectUnauthorized: false } }],
    });
    defer(() => gateway.close(0));
    const client = await openClient(gateway.ws('/wss/'));
    client.close();
  });

  test('a name mismatch fails unless servername names the certificate', async () => {
    const { readFileSync } = await import('node:fs');
    const ca = readFileSync(fixture('ca.pem'));
    const { port } = await startTlsEcho(false);
    const mismatched = await startTestGateway({
      rules: [{ path: '/wss/', target: `wss://127.0.0.2:${port}/`, tls: { ca } }],
    });
    const named = await startTestGateway({
      rules: [{ path: '/wss/', target: `wss://127.0.0.1:${port}/`, tls: { ca, servername: 'localhost' } }],
    });
    defer(
      () => mismatched.close(0),
      () => named.close(0),
    );
    assert.equal(statusOf(await rawExchange(mismatched.port, handshakeRequest('/wss/'))), 502);
    const client = await openClient(named.ws('/wss/'));
    client.close();
  });

  test('presents the configured client certificate to a backend that requires one', async () => {
    const { readFileSync } = await import('node:fs');
    const { port, peers } = await startTlsEcho(true);
    const tls = {
      ca: readFileSync(fixture('ca.pem')),
      cert: readFileSync(fixture('client.pem')),
      key: readFileSync(fixture('client.key')),
    };
    const gateway = await startTestGateway({
      rules: [{ path: '/wss/', target: `wss://localhost:${port}/`, tls }],
    });
    defer(() => gateway.close(0));
    const client = await openClient(gateway.ws('/wss/'));
    assert.deepEqual(peers, ['wstunnel client']);
    client.close();
  });
});
