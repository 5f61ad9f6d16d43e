// Why: close() must drain (503 for newcomers, a grace period, then a courteous or hard close) and always finish.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { createWstunnel, type TunnelError } from '@wstunnel/core';
import { startEchoBackend, startRawBackend } from '../helpers/backends.ts';
import { closed, openClient, roundTrip, startTestGateway } from '../helpers/gateway.ts';
import {
  closeServer,
  deadPort,
  handshakeRequest,
  listen,
  rawConnect,
  rawExchange,
  readAll,
  statusOf,
} from '../helpers/net.ts';

describe('close() and drain', () => {
  test('with no tunnels, close() resolves at once', async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    await tunnel.close();
    assert.equal(tunnel.size, 0);
  });

  test('open tunnels that finish during the grace period let close() resolve early', async () => {
    const backend = await startEchoBackend();
    const gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const client = await openClient(gateway.ws('/ws/'));
    const started = Date.now();
    const closing = gateway.tunnel.close({ timeout: 10_000 });
    assert.equal(
      (await roundTrip(client, 'still flowing during drain')).data.toString(),
      'still flowing during drain',
    );
    client.close(1000);
    await closing;
    assert.ok(Date.now() - started < 5_000, 'close() waited for the deadline although the tunnel had ended');
    assert.equal(gateway.tunnel.size, 0);
    await gateway.close(0);
    await backend.close();
  });

  test('open tunnels are ended at the deadline and close() resolves within it', async () => {
    const backend = await startEchoBackend();
    const gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const clients = await Promise.all([1, 2, 3].map(() => openClient(gateway.ws('/ws/'))));
    const ended = clients.map((client) => closed(client));
    const started = Date.now();
    await gateway.tunnel.close({ timeout: 200 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 2_000, `close() took ${elapsed} ms for a 200 ms deadline`);
    for (const { code } of await Promise.all(ended)) assert.equal(code, 1006);
    assert.equal(gateway.tunnel.size, 0);
    await gateway.close(0);
    await backend.close();
  });

  test('with closeFrames, both sides get a 1001 close frame at the deadline', async () => {
    const backend = await startEchoBackend();
    const gateway = await startTestGateway({
      rules: [{ path: '/ws/', target: `${backend.origin}/` }],
      closeFrames: true,
    });
    const client = await openClient(gateway.ws('/ws/'));
    // Traffic first, so the frame cursor has frames of both directions behind it.
    await roundTrip(client, Buffer.alloc(70_000, 7));
    await roundTrip(client, 'small');
    const serverSide = [...backend.wss.clients][0]!;
    const backendClosed = once(serverSide, 'close');
    const clientClosed = closed(client);
    await gateway.tunnel.close({ timeout: 50 });
    assert.equal((await clientClosed).code, 1001);
    assert.equal(((await backendClosed) as [number])[0], 1001);
    await gateway.close(0);
    await backend.close();
  });

  test('new upgrades during the drain get 503', async () => {
    const backend = await startEchoBackend();
    const gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const client = await openClient(gateway.ws('/ws/'));
    const closing = gateway.tunnel.close({ timeout: 5_000 });
    const failed = once(gateway.tunnel, 'failed');
    assert.equal(statusOf(await rawExchange(gateway.port, handshakeRequest('/ws/'))), 503);
    assert.equal(((await failed)[0] as TunnelError).code, 'ERR_WSTUNNEL_DRAINING');
    client.close();
    await closing;
    await gateway.close(0);
    await backend.close();
  });

  test('a handshake still pending at the deadline is answered 503 and its backend connection closed', async () => {
    const reached = Promise.withResolvers<void>();
    const backend = await startRawBackend(() => reached.resolve());
    const gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const client = await rawConnect(gateway.port);
    const response = readAll(client);
    client.write(handshakeRequest('/ws/'));
    await reached.promise;
    await gateway.tunnel.close({ timeout: 50 });
    assert.equal(statusOf((await response).toString('latin1')), 503);
    assert.equal(gateway.tunnel.size, 0);
    await gateway.close(0);
    await backend.close();
  });

  test('Symbol.asyncDispose drains like close(), and close() twice returns the same drain', async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    const first = tunnel.close();
    assert.equal(tunnel.close(), first);
    assert.equal(tunnel[Symbol.asyncDispose](), first);
    await first;
  });

  test('after close(), the tunnel detaches from its servers and their upgrades get 404', async () => {
    const server = createServer();
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: 'ws://127.0.0.1:9/' }] });
    tunnel.attach(server);
    const port = await listen(server);
    await tunnel.close();
    assert.equal(server.listenerCount('upgrade'), 0);
    server.on('upgrade', (_req, socket) =>
      socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\n\r\n'),
    );
    assert.equal(statusOf(await rawExchange(port, handshakeRequest('/ws/'))), 418);
    await closeServer(server);
  });

  test("an open tunnel outlives the server's requestTimeout, headersTimeout and keepAliveTimeout", async () => {
    const backend = await startEchoBackend();
    const tunnel = createWstunnel({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const server = createServer({
      requestTimeout: 300,
      headersTimeout: 200,
      keepAliveTimeout: 100,
      connectionsCheckingInterval: 50,
    });
    tunnel.attach(server);
    const port = await listen(server);
    const client = await openClient(`ws://127.0.0.1:${port}/ws/`);
    // Idle well past every server timeout (a timer, not a wait for I/O): Node's sweep must not see the tunnel.
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal((await roundTrip(client, 'still here')).data.toString(), 'still here');
    client.close();
    await tunnel.close();
    await closeServer(server);
    await backend.close();
  });
});

describe('observability', () => {
  test('diagnostics_channel publishes open and close with bytes each way, without any event listener', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const backend = await startEchoBackend();
    const gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    const seen: { channel: string; message: Record<string, unknown> }[] = [];
    const listeners = ['wstunnel:open', 'wstunnel:close', 'wstunnel:refused', 'wstunnel:failed'].map(
      (name) => {
        const listener = (message: unknown): void => {
          seen.push({ channel: name, message: message as Record<string, unknown> });
        };
        subscribe(name, listener);
        return [name, listener] as const;
      },
    );
    try {
      const client = await openClient(gateway.ws('/ws/x'));
      await roundTrip(client, 'counted bytes');
      const tunnelClosed = once(gateway.tunnel, 'close');
      client.close(1000);
      await tunnelClosed;
      assert.equal(statusOf(await rawExchange(gateway.port, handshakeRequest('/nowhere'))), 404);
      const channels = seen.map((entry) => entry.channel);
      assert.deepEqual(channels.slice(0, 2), ['wstunnel:open', 'wstunnel:close']);
      const stats = seen[1]!.message['stats'] as {
        bytesFromClient: number;
        bytesToClient: number;
        durationMs: number;
      };
      assert.ok(stats.bytesFromClient > 'counted bytes'.length, JSON.stringify(stats));
      assert.ok(stats.bytesToClient > 'counted bytes'.length, JSON.stringify(stats));
      assert.equal((seen[0]!.message['info'] as { url: string }).url, '/ws/x');
    } finally {
      for (const [name, listener] of listeners) unsubscribe(name, listener);
      await gateway.close(0);
      await backend.close();
    }
  });

  test('failures with no listener attached never throw (no "error" event)', async () => {
    const tunnel = createWstunnel({
      rules: [{ path: '/ws/', target: `ws://127.0.0.1:${await deadPort()}/` }],
    });
    assert.equal(tunnel.listenerCount('error'), 0);
    const server = createServer();
    tunnel.attach(server);
    const port = await listen(server);
    assert.equal(statusOf(await rawExchange(port, handshakeRequest('/ws/'))), 502);
    await tunnel.close();
    await closeServer(server);
  });
});
