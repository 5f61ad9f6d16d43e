// Why: the plain-HTTP path reached through handleUpgrade, and the header lending to httpxy.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { createWstunnel } from '@wstunnel/core';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { closeServer, listen, rawConnect, readAll } from '../helpers/net.ts';

const defer = cleanupAfterEach();

async function httpBackend(): Promise<{ port: number }> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ url: req.url, headers: req.headers });
    res
      .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      .end(body);
  });
  const port = await listen(server);
  defer(async () => {
    server.closeAllConnections();
    await closeServer(server);
  });
  return { port };
}

test('handleUpgrade: an upgrade the rule proxies as plain HTTP, pipelined behind a pending response, is answered after it without throwing', async () => {
  const backend = await httpBackend();
  const tunnel = createWstunnel({ rules: [{ path: '/app/', target: `http://127.0.0.1:${backend.port}/` }] });
  let release!: () => void;
  const slowSent = new Promise<void>((resolve) => {
    release = resolve;
  });
  const thrown: unknown[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-length': '4' });
      void slowSent.then(() => res.end('slow'));
      return;
    }
    if (!tunnel.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    try {
      void tunnel.handleUpgrade(req, socket, head);
    } catch (error) {
      thrown.push(error);
      socket.destroy();
    }
    release();
  });
  const port = await listen(server);
  defer(
    () => tunnel.close({ timeout: 0 }),
    async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
  );
  const socket = await rawConnect(port);
  const all = readAll(socket);
  socket.write(
    'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /app/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo/1\r\n\r\n',
  );
  const text = (await all).toString('latin1');
  assert.deepEqual(thrown, []);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nslowHTTP\/1\.1 200 /);
  assert.match(text, /"url":"\/x"/);
});

test('handleRequest after a mount rewrote req.url (Express app.use("/gw", …)) routes an Upgrade request like a plain one', async () => {
  const backend = await httpBackend();
  const tunnel = createWstunnel({ rules: [{ path: '/x/', target: `http://127.0.0.1:${backend.port}/` }] });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // What a router does for a handler mounted at /gw: req.url becomes mount-relative.
    if (req.url?.startsWith('/gw/')) req.url = req.url.slice(3);
    if (!tunnel.handleRequest(req, res)) res.writeHead(404, { 'content-length': '0' }).end();
  });
  tunnel.attach(server);
  const port = await listen(server);
  defer(
    () => tunnel.close({ timeout: 0 }),
    async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
  );
  const exchange = async (head: string): Promise<string> => {
    const socket = await rawConnect(port);
    const all = readAll(socket);
    socket.write(head);
    return (await all).toString('latin1');
  };
  const plain = await exchange('GET /gw/x/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(plain, /^HTTP\/1\.1 200 /);
  const upgrade = await exchange(
    'GET /gw/x/a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: foo/1\r\n\r\n',
  );
  assert.match(upgrade, /^HTTP\/1\.1 200 /, upgrade);
  assert.match(upgrade, /"url":"\/a"/);
});
