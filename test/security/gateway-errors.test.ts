/**
 * The gateway's own failure answers are complete HTTP responses that close the connection: 502 when the backend
 * refuses, resets or answers badly, 503 over `max` (with slots released on every outcome, so failures cannot
 * exhaust them), 504 after `timeout`, and nothing partial of a backend head ever leaks.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { listen } from '../helpers/net.ts';
import {
  assertGatewayError,
  Fixture,
  parseResponse,
  switching101,
  TEST_TIMEOUT_MS,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };

const fx = Fixture.perTest();

describe('502 Bad Gateway', () => {
  test('a backend port nobody listens on is 502', opts, async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `ws://127.0.0.1:${port}/base/` }] });
    assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 502);
  });

  test('a backend that closes without answering is 502', opts, async () => {
    const backend = await fx.backend(({ socket }) => socket.end());
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 502);
  });

  test('a backend that resets the connection is 502', opts, async () => {
    const backend = await fx.backend(({ socket }) => socket.resetAndDestroy());
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 502);
  });

  test('a backend that closes mid-head is 502 and the partial head is not relayed', opts, async () => {
    const backend = await fx.backend(({ socket }) =>
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSet-Cookie: partial=1'),
    );
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const answer = await fx.exchange(gw.port, wsHandshake('/ws/chat'));
    assertGatewayError(answer, 502);
    assert.ok(!answer.toString('latin1').includes('partial'));
  });
});

describe('504 Gateway Timeout', () => {
  test(
    'a backend that accepts but never answers is 504 after `timeout`, and its connection is closed',
    opts,
    async () => {
      const backend = await fx.backend();
      const gw = await fx.gateway({
        rules: [{ path: '/ws/', target: `${backend.origin}/base/`, timeout: 300 }],
      });
      const started = performance.now();
      assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 504);
      assert.ok(performance.now() - started >= 250, 'answered before the configured timeout');
      await backend.allClosed();
    },
  );

  test('a backend that stalls mid-head is 504 and the partial head is not relayed', opts, async () => {
    const backend = await fx.backend(({ socket }) =>
      socket.write('HTTP/1.1 101 Switching Protocols\r\nSet-Cookie: partial=1\r\n'),
    );
    const gw = await fx.gateway({
      rules: [{ path: '/ws/', target: `${backend.origin}/base/`, timeout: 300 }],
    });
    const answer = await fx.exchange(gw.port, wsHandshake('/ws/chat'));
    assertGatewayError(answer, 504);
    assert.ok(!answer.toString('latin1').includes('partial'));
    await backend.allClosed();
  });
});

describe('503 over `max`', () => {
  test(
    'with max 1 and a tunnel open, the next upgrade is 503 and never reaches the backend',
    opts,
    async () => {
      const backend = await fx.backend(({ socket }) => socket.write(switching101()));
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, max: 1 }] });
      const first = await fx.client(gw.port);
      first.socket.write(wsHandshake('/ws/chat'));
      assert.match(await first.head(), /^HTTP\/1\.1 101 /);

      assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 503);
      assert.equal(backend.connections(), 1);

      // Half-close is forwarded, so the tunnel ends once both sides have closed.
      const closed = once(gw.tunnel, 'close');
      first.socket.destroy();
      backend.conns[0]!.socket.end();
      await closed;
      const third = await fx.client(gw.port);
      third.socket.write(wsHandshake('/ws/chat'));
      assert.match(
        await third.head(),
        /^HTTP\/1\.1 101 /,
        'the slot was not released when the tunnel closed',
      );
    },
  );

  test('a handshake still waiting for the backend counts toward max', opts, async () => {
    const backend = await fx.backend();
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, max: 1 }] });
    const first = await fx.client(gw.port);
    first.socket.write(wsHandshake('/ws/chat'));
    await backend.nextConn();
    assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 503);
    assert.equal(backend.connections(), 1);
  });

  test(
    'refusals, 502s and clients leaving mid-handshake release their slot (max cannot be exhausted)',
    opts,
    async () => {
      const answers = [
        'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n',
        switching101('', 'h2c'),
        undefined, // the client leaves before an answer
        switching101(),
      ];
      let index = 0;
      const backend = await fx.backend(({ socket }) => {
        const answer = answers[index++];
        if (answer !== undefined) socket.write(answer);
      });
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, max: 1 }] });

      assert.equal(parseResponse(await fx.exchange(gw.port, wsHandshake('/ws/chat'))).status, 401);
      assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat')), 502);

      const leaving = await fx.client(gw.port);
      leaving.socket.write(wsHandshake('/ws/chat'));
      // nextConn() hands out connections in order: the 401's, the 502's, then the leaving client's.
      await backend.nextConn();
      await backend.nextConn();
      await backend.nextConn();
      const failed = once(gw.tunnel, 'failed');
      leaving.socket.destroy();
      await failed;

      const last = await fx.client(gw.port);
      last.socket.write(wsHandshake('/ws/chat'));
      assert.match(await last.head(), /^HTTP\/1\.1 101 /, 'a slot leaked');
      assert.equal(backend.connections(), 4);
    },
  );
});
