// Why: several owners of 'upgrade' on one server must each get exactly their upgrades: no 400 for another's path,
// no hang, no warm-up request needed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createWstunnel } from '@wstunnel/core';
import { WebSocket, WebSocketServer } from 'ws';
import { type EchoBackend, startEchoBackend } from '../helpers/backends.ts';
import { openClient, roundTrip } from '../helpers/gateway.ts';
import { closeServer, handshakeRequest, listen, rawExchange, statusOf } from '../helpers/net.ts';

describe('one upgrade dispatcher per server', () => {
  let backendA: EchoBackend;
  let backendB: EchoBackend;
  before(async () => {
    backendA = await startEchoBackend();
    backendB = await startEchoBackend();
    backendA.wss.on('connection', (socket) => socket.send('from A'));
    backendB.wss.on('connection', (socket) => socket.send('from B'));
  });
  after(async () => {
    await backendA.close();
    await backendB.close();
  });

  /** The backends greet on connect; listen before 'open' because the greeting can arrive in the same read. */
  async function firstMessage(url: string): Promise<string> {
    const client = new WebSocket(url);
    const [message] = (await Promise.race([
      once(client, 'message'),
      once(client, 'unexpected-response').then(([, res]) => {
        throw new Error(`${url}: unexpected response ${res.statusCode}`);
      }),
    ])) as [Buffer];
    client.close();
    return message.toString();
  }

  test('the first upgrade to a freshly started server works with no prior HTTP request', async () => {
    const server = createServer((_req, res) => res.end('http'));
    createWstunnel({ rules: [{ path: '/a/', target: `${backendA.origin}/` }] }).attach(server);
    const port = await listen(server);
    assert.equal(await firstMessage(`ws://127.0.0.1:${port}/a/`), 'from A');
    await closeServer(server);
  });

  test('two wstunnel instances and a ws server bound to the same server each get only their paths', async () => {
    const server = createServer();
    const a = createWstunnel({ rules: [{ path: '/a/', target: `${backendA.origin}/` }] });
    const b = createWstunnel({ rules: [{ path: '/b/', target: `${backendB.origin}/` }] });
    a.attach(server);
    // A ws server with { server, path } answers 400 to every upgrade whose path it does not own.
    const native = new WebSocketServer({ server, path: '/native' });
    native.on('connection', (socket) => socket.send('from native'));
    b.attach(server);
    const port = await listen(server);
    const url = (path: string): string => `ws://127.0.0.1:${port}${path}`;
    const results = await Promise.all([
      firstMessage(url('/a/')),
      firstMessage(url('/b/')),
      firstMessage(url('/native')),
      firstMessage(url('/a/again')),
    ]);
    assert.deepEqual(results, ['from A', 'from B', 'from native', 'from A']);
    // Unclaimed paths go to the other listener (ws answers 400 there, which is its own business).
    assert.equal(statusOf(await rawExchange(port, handshakeRequest('/nobody'))), 400);
    native.close();
    await a.close();
    await b.close();
    await closeServer(server);
  });

  test('a noServer ws handler that takes every upgrade it sees only sees the unclaimed ones', async () => {
    const server = createServer();
    const tunnel = createWstunnel({ rules: [{ path: '/a/', target: `${backendA.origin}/` }] });
    tunnel.attach(server);
    const wss = new WebSocketServer({ noServer: true });
    const seen: string[] = [];
    server.on('upgrade', (req, socket, head) => {
      seen.push(req.url ?? '');
      wss.handleUpgrade(req, socket, head, (ws) => ws.send('from noServer'));
    });
    const port = await listen(server);
    assert.equal(await firstMessage(`ws://127.0.0.1:${port}/a/`), 'from A');
    assert.equal(await firstMessage(`ws://127.0.0.1:${port}/socket`), 'from noServer');
    assert.deepEqual(seen, ['/socket']);
    for (const client of wss.clients) client.terminate();
    await tunnel.close();
    await closeServer(server);
  });

  test('with no other upgrade listener, an unmatched upgrade gets a 404, not a hang', async () => {
    const server = createServer();
    const tunnel = createWstunnel({ rules: [{ path: '/a/', target: `${backendA.origin}/` }] });
    tunnel.attach(server);
    const port = await listen(server);
    const response = await rawExchange(port, handshakeRequest('/elsewhere'));
    assert.equal(statusOf(response), 404);
    assert.match(response, /Connection: close/);
    await tunnel.close();
    await closeServer(server);
  });

  test('detaching the last owner restores the server exactly as it was', async () => {
    const server: Server = createServer();
    const emit = server.emit;
    const tunnel = createWstunnel({ rules: [{ path: '/a/', target: `${backendA.origin}/` }] });
    const detach = tunnel.attach(server);
    assert.notEqual(server.emit, emit);
    assert.equal(server.listenerCount('upgrade'), 1);
    detach();
    assert.equal(server.emit, emit);
    assert.equal(server.listenerCount('upgrade'), 0);
    await tunnel.close();
  });

  test('a plain HTTP request to a ws:// route is proxied to its backend as HTTP, other paths reach the app', async () => {
    const server = createServer((req, res) => {
      if (!tunnel.handleRequest(req, res)) res.end('app');
    });
    const tunnel = createWstunnel({
      rules: [
        { path: '/a/', target: `${backendA.origin}/` },
        { path: '/b/', target: `${backendA.origin}/`, fallbackToHttp: false },
      ],
    });
    tunnel.attach(server);
    const port = await listen(server);
    // ws answers plain requests itself with 426; that it is ws's answer shows the request reached the backend.
    const routed = await fetch(`http://127.0.0.1:${port}/a/x`);
    assert.equal(routed.status, 426);
    assert.equal(await routed.text(), 'Upgrade Required');
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/b/x`)).text(), 'app');
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/other`)).text(), 'app');
    await tunnel.close();
    await closeServer(server);
  });

  test("handleUpgrade() can be called directly from a server's own upgrade listener", async () => {
    const tunnel = createWstunnel({ rules: [{ path: '/a/', target: `${backendA.origin}/` }] });
    const server = createServer();
    server.on('upgrade', (req, socket, head) => void tunnel.handleUpgrade(req, socket, head));
    const port = await listen(server);
    const client = await openClient(`ws://127.0.0.1:${port}/a/`);
    assert.equal((await roundTrip(client, 'direct')).data.toString(), 'direct');
    client.close();
    assert.equal(statusOf(await rawExchange(port, handshakeRequest('/zzz'))), 404);
    await tunnel.close({ timeout: 0 });
    await closeServer(server);
  });
});
