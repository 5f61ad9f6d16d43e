/**
 * What an open tunnel keeps (issue 6, RSS per idle tunnel): nothing of its upgrade request, no bytes read during the
 * handshake, and no listeners beyond its own; backpressure adds a 'drain' listener only while a direction waits.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Wstunnel } from '@wstunnel/core';
import { startEchoBackend } from '../helpers/backends.ts';
import { openClient, roundTrip } from '../helpers/gateway.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Collects garbage until `ref` is gone, a bounded number of times. Each try starts a new job: `deref()` keeps its
 * target alive until the end of the job that called it (WeakRef semantics), so it must come after `gc()`.
 */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

/** Checks `condition` once per event-loop turn (no event tells when a write starts waiting), for at most 5 s. */
async function until(condition: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  return condition();
}

describe('tunnel footprint', async () => {
  const echo = await startEchoBackend();
  const tunnel = new Wstunnel({ rules: [{ path: '/ws/', target: `${echo.origin}/` }] });
  // The server hands its upgrades to the tunnel itself, so the test sees each upgrade's request and socket.
  const upgrades: [IncomingMessage, Socket][] = [];
  const server = createServer().on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push([req, socket]);
    void tunnel.handleUpgrade(req, socket, head);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  after(async () => {
    await tunnel.close({ timeout: 0 });
    server.close();
    await echo.close();
  });

  /** Opens a tunnel and returns the client with the server-side request (weakly held) and socket of its upgrade. */
  async function open(path: string) {
    const client = await openClient(`ws://127.0.0.1:${port}${path}`);
    const [req, socket] = upgrades.pop()!;
    return { client, req: new WeakRef(req), socket };
  }

  test('an open tunnel keeps nothing of its upgrade request: the request is collectable', async () => {
    const { client, req } = await open('/ws/footprint');
    try {
      assert.equal((await roundTrip(client, 'still open')).data.toString(), 'still open');
      assert.equal(await collected(req), true, 'the IncomingMessage of an open tunnel is still reachable');
      assert.equal((await roundTrip(client, 'after gc')).data.toString(), 'after gc');
    } finally {
      client.terminate();
    }
  });

  test('a direction that waited for drain resumes and leaves no drain listener behind', async () => {
    const { client, socket } = await open('/ws/backpressure');
    try {
      const drainListeners = socket.listenerCount('drain');
      // The client stops reading: the gateway's writes to it fill up, so the backend side must pause and wait.
      (client as unknown as { _socket: Socket })._socket.pause();
      const payload = Buffer.alloc(1024 * 1024, 7);
      for (let i = 0; i < 8; i++) client.send(payload);
      const echoed = new Promise<number>((resolve) => {
        let bytes = 0;
        client.on('message', (data: Buffer) => {
          bytes += data.length;
          if (bytes === 8 * payload.length) resolve(bytes);
        });
      });
      assert.equal(
        await until(() => socket.writableNeedDrain),
        true,
        'the gateway never had to wait for the client',
      );
      (client as unknown as { _socket: Socket })._socket.resume();
      assert.equal(await echoed, 8 * payload.length);
      assert.equal(socket.listenerCount('drain'), drainListeners);
    } finally {
      client.terminate();
    }
  });
});
