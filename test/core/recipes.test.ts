// Why: the three recipes of the mod_proxy_wstunnel documentation, pasted verbatim (hosts pointed at loopback
// backends), work end to end through the gateway, and socket.io (long-polling, then upgrade) works through a ws:// rule.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromApacheConfig } from '@wstunnel/core';
import { Server as SocketIoServer } from 'socket.io';
import { io as socketIoClient } from 'socket.io-client';
import { WebSocketServer } from 'ws';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { openClient, roundTrip, startTestGateway } from '../helpers/gateway.ts';
import { closeServer } from '../helpers/net.ts';

const defer = cleanupAfterEach();
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** A backend serving HTTP and WebSockets on one port, like the documentation's backend.example.com:9080. */
async function startBackend(server: Server = createServer()): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  server.on('request', (req: IncomingMessage, res) => {
    seen.push(`http ${req.url}`);
    res.setHeader('content-type', 'text/plain').end(`page ${req.url}`);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    seen.push(`ws ${req.url}`);
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(async () => {
    for (const client of wss.clients) client.terminate();
    server.closeAllConnections();
    await closeServer(server);
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

async function gatewayFor(config: string) {
  const gateway = await startTestGateway(fromApacheConfig(config, { baseDir: fixtures }));
  defer(() => gateway.close(0));
  return gateway;
}

describe('the mod_proxy_wstunnel documentation recipes', () => {
  test('1: ProxyPass "/ws2/" ws:// and "/wss2/" wss://', async () => {
    const plain = await startBackend();
    const tls = await startBackend(
      createHttpsServer({
        cert: readFileSync(`${fixtures}server.pem`),
        key: readFileSync(`${fixtures}server.key`),
      }),
    );
    const gateway = await gatewayFor(`
SSLProxyEngine On
SSLProxyCACertificateFile ca.pem
ProxyPass "/ws2/"  "ws://127.0.0.1:${plain.port}/"
ProxyPass "/wss2/" "wss://localhost:${tls.port}/"
`);
    const ws = await openClient(gateway.ws('/ws2/echo'));
    assert.equal((await roundTrip(ws, 'plain')).data.toString(), 'plain');
    const wss = await openClient(gateway.ws('/wss2/echo'));
    assert.equal((await roundTrip(wss, 'tls')).data.toString(), 'tls');
    ws.close();
    wss.close();
    assert.deepEqual([plain.seen, tls.seen], [['ws /echo'], ['ws /echo']]);
  });

  test('2: a WebSocket-only ProxyPassMatch before ProxyPass / http://', async () => {
    const backend = await startBackend();
    const gateway = await gatewayFor(`
ProxyPassMatch ^/(myApp/ws)$  ws://127.0.0.1:${backend.port}/$1
ProxyPass / http://127.0.0.1:${backend.port}/
`);
    const client = await openClient(gateway.ws('/myApp/ws'));
    assert.equal((await roundTrip(client, 'hello')).data.toString(), 'hello');
    client.close();
    assert.equal(await (await fetch(`${gateway.url}/index.html?x=1`)).text(), 'page /index.html?x=1');
    assert.equal(await (await fetch(`${gateway.url}/myApp/ws`)).text(), 'page /myApp/ws');
    // An upgrade outside the WebSocket URL reaches the http:// rule, which does not tunnel it.
    await assert.rejects(openClient(gateway.ws('/other')), /unexpected response 200/);
    assert.deepEqual(backend.seen, ['ws /myApp/ws', 'http /index.html?x=1', 'http /myApp/ws', 'http /other']);
  });

  test('3: RewriteCond Upgrade + Connection, RewriteRule [P,L], after ProxyPass / http://', async () => {
    const backend = await startBackend();
    const gateway = await gatewayFor(`
ProxyPass / http://127.0.0.1:${backend.port}/
RewriteEngine on
RewriteCond %{HTTP:Upgrade} websocket [NC]
RewriteCond %{HTTP:Connection} upgrade [NC]
RewriteRule ^/?(.*) "ws://127.0.0.1:${backend.port}/$1" [P,L]
`);
    const client = await openClient(gateway.ws('/any/where?room=7'));
    assert.equal((await roundTrip(client, 'rewritten')).data.toString(), 'rewritten');
    client.close();
    assert.equal(await (await fetch(`${gateway.url}/any/where`)).text(), 'page /any/where');
    assert.deepEqual(backend.seen, ['ws /any/where?room=7', 'http /any/where']);
  });
});

describe('socket.io through a ws:// rule', () => {
  test('long-polling first, then the WebSocket upgrade, messages both ways', async () => {
    const server = createServer();
    const ioServer = new SocketIoServer(server);
    ioServer.on('connection', (socket) => {
      socket.on('ping-me', (text: string, ack: (reply: string) => void) => ack(`pong ${text}`));
    });
    // Seen from the backend: the engine.io session starts on long-polling, then upgrades to WebSocket.
    const upgraded = new Promise<[string, string]>((resolve) => {
      type Session = {
        transport: { name: string };
        once(event: 'upgrade', listener: (transport: { name: string }) => void): void;
      };
      ioServer.engine.once('connection', (session: Session) => {
        const first = session.transport.name;
        session.once('upgrade', (transport) => resolve([first, transport.name]));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    defer(async () => {
      await ioServer.close();
      server.closeAllConnections();
    });
    const { port } = server.address() as AddressInfo;
    const gateway = await gatewayFor(`ProxyPass /socket.io/ ws://127.0.0.1:${port}/socket.io/`);
    const client = socketIoClient(gateway.url, { transports: ['polling', 'websocket'], reconnection: false });
    defer(() => void client.close());
    assert.deepEqual(await upgraded, ['polling', 'websocket']);
    assert.equal(await client.emitWithAck('ping-me', 'through the tunnel'), 'pong through the tunnel');
    assert.equal(client.io.engine.transport.name, 'websocket');
    assert.equal(gateway.tunnel.openTunnels, 1);
  });
});
