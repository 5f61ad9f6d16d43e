// Why: socket.io is the client most apps put behind a WebSocket route, and the hardest one: its session starts as
// HTTP long-polling (GET and POST, proxied as plain HTTP by the ws:// route's fallbackToHttp) and then upgrades the
// same session to a WebSocket. Both halves must reach the backend through each adapter and the gateway.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { Server as SocketIoServer } from 'socket.io';
import { type Socket as SocketIoClient, io as socketIoClient } from 'socket.io-client';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { closeServer } from '../helpers/net.ts';
import { type Adapter, adapters, startApp, within } from './apps.ts';

const defer = cleanupAfterEach();

/** A socket.io server on its own http server, recording every engine.io request it receives. */
async function startSocketIoBackend() {
  const server = createServer();
  const io = new SocketIoServer(server);
  /** `GET polling`, `POST polling`, `upgrade websocket`, in order of arrival, with the session id. */
  const seen: { kind: string; transport: string | null; sid: string | null; path: string }[] = [];
  const record = (kind: string, url = ''): void => {
    const parsed = new URL(url, 'http://backend');
    seen.push({
      kind,
      transport: parsed.searchParams.get('transport'),
      sid: parsed.searchParams.get('sid'),
      path: parsed.pathname,
    });
  };
  // Prepended after socket.io attached, so they see the requests engine.io takes as well.
  server.prependListener('request', (req) => record(req.method ?? '?', req.url));
  server.prependListener('upgrade', (req) => record('upgrade', req.url));
  io.on('connection', (socket) => {
    socket.on('echo', (text: string, ack: (reply: string) => void) => ack(`echo ${text}`));
    socket.on('shout', (text: string) => io.emit('heard', text.toUpperCase()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(async () => {
    await io.close();
    await closeServer(server);
  });
  return { origin: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** The URL a socket.io client connects to: the front (app or gateway) mounting the backend at /socket.io/. */
async function startFront(kind: Adapter | 'gateway', backendOrigin: string): Promise<string> {
  if (kind === 'gateway') {
    const gateway = await startTestGateway({
      rules: [{ path: '/socket.io/', target: `${backendOrigin}/socket.io/` }],
    });
    defer(() => gateway.close(0));
    return gateway.url;
  }
  const app = await startApp(kind, { mount: '/socket.io', target: `${backendOrigin}/socket.io` });
  defer(() => app.close());
  return app.url;
}

/** Resolves with the next `event` the client receives. */
function next<T>(client: SocketIoClient, event: string): Promise<T> {
  return new Promise((resolve) => client.once(event, resolve));
}

describe('socket.io-client (long-polling, then upgrade) through each adapter and the gateway', () => {
  for (const kind of [...adapters, 'gateway'] as const) {
    test(kind, { timeout: 10_000 }, async () => {
      const backend = await startSocketIoBackend();
      const url = await startFront(kind, backend.origin);
      const client = socketIoClient(url, { reconnection: false, timeout: 5000 });
      defer(() => void client.close());
      const upgraded = new Promise<string>((resolve) =>
        client.io.engine.once('upgrade', (transport: { name: string }) => resolve(transport.name)),
      );
      const failed = new Promise<never>((_resolve, reject) => client.once('connect_error', reject));
      await within(Promise.race([next(client, 'connect'), failed]), 5000, 'connect');
      assert.equal(await within(Promise.race([upgraded, failed]), 5000, 'upgrade'), 'websocket');
      assert.equal(client.io.engine.transport.name, 'websocket');

      assert.equal(await client.timeout(5000).emitWithAck('echo', 'round trip'), 'echo round trip');
      const heard = next<string>(client, 'heard');
      client.emit('shout', 'pushed back');
      assert.equal(await within(heard, 5000, 'broadcast'), 'PUSHED BACK');

      // One engine.io session: polling requests (the handshake GET first, the CONNECT packet POSTed), then its
      // WebSocket upgrade, all on the backend's /socket.io/ path.
      const { seen } = backend;
      const sid = seen.find((entry) => entry.sid !== null)?.sid;
      assert.ok(sid, `no request carried a session id: ${JSON.stringify(seen)}`);
      assert.deepEqual(seen[0], { kind: 'GET', transport: 'polling', sid: null, path: '/socket.io/' });
      assert.ok(seen.some((entry) => entry.kind === 'POST' && entry.transport === 'polling'));
      const upgrades = seen.filter((entry) => entry.kind === 'upgrade');
      assert.deepEqual(upgrades, [{ kind: 'upgrade', transport: 'websocket', sid, path: '/socket.io/' }]);
      for (const entry of seen.slice(1)) {
        assert.equal(entry.sid, sid);
        assert.equal(entry.path, '/socket.io/');
        if (entry.kind !== 'upgrade') assert.equal(entry.transport, 'polling');
      }
    });
  }
});
