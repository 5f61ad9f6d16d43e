// Why: the Wstunnel split into TunnelEngine/PlainProxy: a target's max slots, size and openTunnels must
// come back to zero after every way a plain request or a tunnel can end, with one event per request.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { createWstunnel, type Wstunnel } from '@wstunnel/core';
import { startRawBackend, switchingFor } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
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

async function setup(): Promise<{
  port: number;
  tunnel: Wstunnel;
  events: string[];
  backendHeads: string[];
}> {
  const backend = await startRawBackend((socket, head) => {
    const path = head.split(' ')[1] ?? '';
    if (path.startsWith('/ok'))
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    else if (path.startsWith('/reset')) socket.destroy();
    else if (path.startsWith('/partial')) {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
      setImmediate(() => socket.destroy());
    } else if (path.startsWith('/plain101'))
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: foo\r\n\r\n');
    else if (path.startsWith('/refuse')) socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    else if (path.startsWith('/ws101close')) socket.end(switchingFor(head));
    else if (path.startsWith('/hang')) return;
  });
  const dead = await deadPort();
  const tunnel = createWstunnel({
    rules: [
      { path: '/dead/', target: `ws://127.0.0.1:${dead}/`, max: 1 },
      { path: '/', target: `ws://127.0.0.1:${backend.port}/`, max: 1, timeout: 300 },
    ],
  });
  const events: string[] = [];
  tunnel.on('proxied', (info, result) =>
    events.push(`proxied ${info.url ?? ''} ${result.status} ${result.failure ?? ''}`),
  );
  tunnel.on('failed', (error) => events.push(`failed ${error.code}`));
  tunnel.on('refused', (_info, status) => events.push(`refused ${status}`));
  tunnel.on('open', () => events.push('open'));
  tunnel.on('close', () => events.push('close'));
  const server = createServer((req, res) => {
    if (!tunnel.handleRequest(req, res)) res.writeHead(404).end();
  });
  tunnel.attach(server);
  const port = await listen(server);
  defer(
    () => backend.close(),
    async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
    () => tunnel.close({ timeout: 0 }),
  );
  return { port, tunnel, events, backendHeads: backend.heads };
}

/** Waits a bounded number of event-loop turns (no timers) until `check` holds. */
async function turnsUntil(check: () => boolean): Promise<void> {
  for (let turn = 0; turn < 500 && !check(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), 'the condition never held');
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

async function settled(
  tunnel: Wstunnel,
  event: 'proxied' | 'failed' | 'refused' | 'close',
  run: () => Promise<unknown>,
) {
  const fired = once(tunnel, event);
  const result = await run();
  await fired;
  return result;
}

test('every way a plain request ends gives its max=1 slot back, once', async () => {
  const { port, tunnel, events } = await setup();
  const cases: [path: string, status: number | undefined][] = [
    ['/ok', 200],
    ['/reset', 502],
    ['/partial', undefined],
    ['/plain101', 502],
    ['/hang', 504],
    ['/dead/x', 502],
  ];
  for (const [path, status] of cases) {
    const response = (await settled(tunnel, 'proxied', () => rawExchange(port, get(path)))) as string;
    if (status !== undefined) assert.equal(statusOf(response), status, `${path}: ${response}`);
    assert.equal(tunnel.size, 0, path);
    assert.equal(statusOf(await rawExchange(port, get('/ok'))), 200, `slot free after ${path}`);
    assert.equal(statusOf(await rawExchange(port, get('/dead/y'))), 502, `dead slot free after ${path}`);
  }
  assert.equal(
    events.filter((line) => line.startsWith('proxied')).length,
    cases.length * 3,
    events.join('\n'),
  );
  assert.equal(events.filter((line) => line.startsWith('failed')).length, 0, events.join('\n'));
});

test('a client that leaves while the backend is silent gives the slot back and is not reported as a clean 200', async () => {
  const { port, tunnel, backendHeads } = await setup();
  const socket = await rawConnect(port);
  const seen = backendHeads.length;
  const proxied = once(tunnel, 'proxied');
  socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
  // The backend has the request once its head is recorded.
  await turnsUntil(() => backendHeads.length > seen);
  socket.destroy();
  const [, result] = await proxied;
  assert.ok(result.status !== 200 || result.failure !== undefined, JSON.stringify(result));
  assert.equal(tunnel.size, 0);
  assert.equal(statusOf(await rawExchange(port, get('/ok'))), 200);
});

test('tunnels: refused, 101 then close and a refused dial all give the max=1 slot back', async () => {
  const { port, tunnel } = await setup();
  for (const path of ['/refuse', '/ws101close', '/dead/t']) {
    const event = path === '/refuse' ? 'refused' : path === '/ws101close' ? 'close' : 'failed';
    await settled(tunnel, event, async () => {
      const socket = await rawConnect(port);
      socket.on('error', () => undefined);
      socket.write(handshakeRequest(path));
      const { head } = await readHead(socket);
      socket.destroy();
      return head;
    });
    assert.equal(tunnel.size, 0, path);
    assert.equal(tunnel.openTunnels, 0, path);
    assert.equal(statusOf(await rawExchange(port, get('/ok'))), 200, `slot free after ${path}`);
    assert.equal(statusOf(await rawExchange(port, get('/dead/y'))), 502, `dead slot free after ${path}`);
  }
});

test('close({ timeout }) ends a plain request still waiting at the deadline, resolves, and does not report it as a 200', async () => {
  const { port, tunnel, events } = await setup();
  const socket = await rawConnect(port);
  const all = readAll(socket);
  socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
  await turnsUntil(() => tunnel.size > 0);
  const proxied = once(tunnel, 'proxied');
  await tunnel.close({ timeout: 50 });
  const [, result] = await proxied;
  assert.equal((await all).length, 0, 'nothing was sent to the client');
  assert.equal(tunnel.size, 0);
  assert.equal(events.filter((line) => line.startsWith('proxied')).length, 1, events.join('\n'));
  // HttpResult.status is "the status sent to the client": none was sent, so not a clean 200.
  assert.ok(result.status !== 200 || result.failure !== undefined, JSON.stringify(result));
});
