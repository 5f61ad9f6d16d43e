// Regression, found in review of the balancer: every failed attempt's Handshake#detach() adds another `client.on('error', ignore)`; they stay on the
// client socket for its whole life. 11+ attempts (12 members, default maxattempts = members - 1) trip Node's
// MaxListenersExceededWarning, and a long-lived tunnel keeps N dead listeners.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { createWstunnel } from '@wstunnel/core';
import { deadPort, handshakeRequest, listen, rawConnect, readHead, statusOf } from '../../helpers/net.ts';

test('the client socket keeps one error listener per failed attempt', async () => {
  const dead = await Promise.all(Array.from({ length: 12 }, () => deadPort()));
  const tunnel = createWstunnel({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: {
      pool: { forceRecovery: false, members: dead.map((port) => ({ url: `ws://127.0.0.1:${port}` })) },
    },
  });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  let serverSide: Duplex | undefined;
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    serverSide = socket;
    void tunnel.handleUpgrade(req, socket, head);
  });
  const port = await listen(server);
  try {
    const before = 0;
    const client = await rawConnect(port);
    client.write(handshakeRequest('/ws/x'));
    const { head } = await readHead(client);
    assert.equal(statusOf(head), 503);
    const errorListeners = serverSide!.listeners('error').length;
    client.destroy();
    await new Promise((r) => setImmediate(r));
    assert.ok(errorListeners <= before + 3, `client socket carries ${errorListeners} 'error' listeners`);
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
    await tunnel.close({ timeout: 0 });
    server.close();
    await once(server, 'close');
  }
});
