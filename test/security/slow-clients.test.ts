/**
 * Slowloris and slow peers (reference 4.9): a client dribbling its handshake, a client stalled mid-head, a
 * backend dribbling or withholding its 101 and a client that stops reading must each cost only their own
 * connection: other clients' tunnels keep flowing, nothing reaches a backend early, and buffers stay bounded.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { openClient, roundTrip } from '../helpers/gateway.ts';
import {
  barrier,
  Fixture,
  parseResponse,
  switching101,
  TEST_TIMEOUT_MS,
  writeFully,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };

const fx = Fixture.perTest();

/** Writes `data` one byte per write, yielding to the event loop after each. */
async function dribble(socket: Socket, data: Buffer): Promise<void> {
  for (const byte of data) {
    await writeFully(socket, Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A masked client text frame (mask key 0, so the payload reads as is). */
function clientFrame(text: string): Buffer {
  return Buffer.concat([Buffer.from([0x81, 0x80 | text.length, 0, 0, 0, 0]), Buffer.from(text)]);
}

describe('slow clients', () => {
  test(
    'a client dribbling its handshake byte by byte does not delay another client’s echo',
    opts,
    async () => {
      const echo = await fx.echo();
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${echo.origin}/base/` }] });
      const handshake = Buffer.from(wsHandshake('/ws/slow'), 'latin1');
      const half = Math.floor(handshake.length / 2);
      const slow = await fx.client(gw.port);
      await dribble(slow.socket, handshake.subarray(0, half));

      const fast = await openClient(gw.ws('/ws/fast'));
      try {
        for (let i = 0; i < 3; i++)
          assert.equal((await roundTrip(fast, `ping ${i}`)).data.toString(), `ping ${i}`);
      } finally {
        fast.terminate();
      }
      assert.deepEqual(
        echo.requests.map((req) => req.url),
        ['/base/fast'],
        'the half-sent handshake reached the backend',
      );
      assert.equal(slow.bytes.length, 0);

      await dribble(slow.socket, handshake.subarray(half));
      assert.equal(parseResponse(`${await slow.head()}\r\n\r\n`).status, 101);
      slow.socket.write(clientFrame('late'));
      const reply = await slow.until((b) => b.includes('late'), 'the echo of the slow client');
      assert.ok(reply.includes(Buffer.from([0x81, 4, ...Buffer.from('late')])));
    },
  );

  test('a client stalled mid-headers holds no backend connection', opts, async () => {
    const backend = await fx.backend(({ socket }) => socket.write(switching101()));
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const stalled = await fx.client(gw.port);
    const handshake = wsHandshake('/ws/chat');
    await writeFully(stalled.socket, handshake.slice(0, -2));
    await barrier(gw.port);
    assert.equal(backend.connections(), 0);
    await writeFully(stalled.socket, '\r\n');
    assert.match(await stalled.head(), /^HTTP\/1\.1 101 /);
  });

  test('a backend withholding one 101 does not delay a tunnel on another rule', opts, async () => {
    const silent = await fx.backend();
    const echo = await fx.echo();
    const gw = await fx.gateway({
      rules: [
        { path: '/slow/', target: `${silent.origin}/` },
        { path: '/ws/', target: `${echo.origin}/` },
      ],
    });
    const waiting = await fx.client(gw.port);
    waiting.socket.write(wsHandshake('/slow/chat'));
    await silent.nextConn();

    const fast = await openClient(gw.ws('/ws/fast'));
    try {
      assert.equal((await roundTrip(fast, 'still flowing')).data.toString(), 'still flowing');
    } finally {
      fast.terminate();
    }
    assert.equal(waiting.bytes.length, 0, 'the withheld handshake was answered');
  });

  test('a backend dribbling its 101 byte by byte still yields one exact, regenerated 101', opts, async () => {
    const response = Buffer.from(switching101('Set-Cookie: s=1\r\n'), 'latin1');
    const backend = await fx.backend();
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const client = await fx.client(gw.port);
    client.socket.write(wsHandshake('/ws/chat'));
    const conn = await backend.nextConn();
    await dribble(conn.socket, response);
    const head = await client.head();
    assert.equal(
      head,
      'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Set-Cookie: s=1\r\nConnection: Upgrade\r\nUpgrade: websocket',
    );
  });
});

describe('idle tunnels', () => {
  test('a tunnel idle for idleTimeout is closed on both sides (no connection hoarding)', opts, async () => {
    const backend = await fx.backend(({ socket }) => socket.write(switching101()));
    const gw = await fx.gateway({
      rules: [{ path: '/ws/', target: `${backend.origin}/base/`, idleTimeout: 300 }],
    });
    const client = await fx.client(gw.port);
    const started = performance.now();
    client.socket.write(wsHandshake('/ws/chat'));
    assert.match(await client.head(), /^HTTP\/1\.1 101 /);
    const [, stats] = await once(gw.tunnel, 'close');
    await client.ended;
    await backend.allClosed();
    assert.ok(performance.now() - started >= 250, 'closed before the idle timeout');
    assert.equal((stats as { reason: string }).reason, 'idle-timeout');
  });
});

describe('slow readers', () => {
  test(
    'a client that stops reading makes the gateway stop reading the backend (bounded buffering)',
    opts,
    async () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const limit = 64 * 1024 * 1024;
      let pushed = 0;
      let flooding: Promise<void> = Promise.resolve();
      const backend = await fx.backend(({ socket }) => {
        socket.write(switching101());
        flooding = (async () => {
          // Bounded: at most `limit` bytes, each write waiting for drain (or the end of the connection).
          while (pushed < limit && !socket.destroyed) {
            pushed += chunk.length;
            if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
          }
        })().catch(() => undefined); // the reset at teardown ends the flood
      });
      const echo = await fx.echo();
      const gw = await fx.gateway({
        rules: [
          { path: '/flood/', target: `${backend.origin}/` },
          { path: '/ws/', target: `${echo.origin}/` },
        ],
      });
      const gatewaySockets: Socket[] = [];
      gw.server.on('connection', (socket: Socket) => gatewaySockets.push(socket));

      const reader = await fx.client(gw.port);
      reader.socket.write(wsHandshake('/flood/chat'));
      await reader.head();
      reader.socket.pause();

      const other = await openClient(gw.ws('/ws/other'));
      let done = false;
      void flooding.then(() => {
        done = true;
      });
      try {
        // The other tunnel is the clock: 150 round trips give an unbounded gateway ample time to swallow the flood.
        for (let i = 0; i < 150 && !done; i++) await roundTrip(other, `tick ${i}`);
      } finally {
        other.terminate();
      }
      const towardReader = gatewaySockets[0]!;
      assert.ok(
        towardReader.writableLength <= 1024 * 1024,
        `the gateway buffered ${towardReader.writableLength} bytes for a client that stopped reading`,
      );
      assert.ok(pushed < limit, `the backend pushed all ${pushed} bytes to a client that reads nothing`);
    },
  );
});
