/**
 * h2c smuggling (Bishop Fox 2020, golang/go#80416): a client must not be able to negotiate HTTP/2 cleartext with
 * the backend through a WebSocket route. An h2c upgrade there is proxied as a plain request (Apache's
 * ProxyWebsocketFallbackToProxyHttp), stripped of Upgrade and HTTP2-Settings, so the backend cannot switch; a
 * backend that answers 101 anyway, or switches a WebSocket handshake to h2c, never gets a tunnel.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acceptAnything,
  answerThrough,
  assertGatewayError,
  assertPlainRequest,
  barrier,
  Fixture,
  forwardThrough,
  PLAIN_BODY,
  plainOk,
  proxyPlain,
  rawRequest,
  receivedAtLeast,
  requestHeaderPairs,
  SWITCHING,
  switchedOnPlain,
  switching101,
  TEST_TIMEOUT_MS,
  values,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/** An HTTP/2 SETTINGS frame (empty), as a backend that switched to h2c would send first. */
const H2_SETTINGS = '\x00\x00\x00\x04\x00\x00\x00\x00\x00';

const fx = Fixture.perTest();

function h2cRequest(token = 'h2c'): string {
  return rawRequest('GET /ws/chat HTTP/1.1', [
    ['Host', 'front.example'],
    ['Connection', 'Upgrade, HTTP2-Settings'],
    ['Upgrade', token],
    ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
  ]);
}

describe('h2c upgrades', () => {
  for (const token of ['h2c', 'H2C']) {
    test(
      `Upgrade: ${token} with HTTP2-Settings on a websocket route is never tunnelled: the backend gets a plain GET without Upgrade or HTTP2-Settings and the client its 200`,
      opts,
      async () => {
        const { backendHead, response, backend } = await proxyPlain(fx, h2cRequest(token));
        assert.equal(backendHead.split('\r\n')[0], 'GET /base/chat HTTP/1.1');
        assertPlainRequest(backendHead, ['http2-settings']);
        assert.ok(
          !/h2c|AAMAAABkAAQAAP__/i.test(backendHead),
          `h2c material reached the backend: ${backendHead}`,
        );
        assert.equal(response.status, 200);
        assert.equal(response.body.toString('latin1'), PLAIN_BODY);
        await backend.allClosed();
        assert.equal(backend.receivedAfterHead(0).length, 0, 'bytes followed the plain request');
      },
    );
  }

  test(
    'with fallbackToHttp: false, an h2c upgrade skips the websocket rule: gateway 404, backend never contacted',
    opts,
    async () => {
      const backend = await fx.backend(acceptAnything);
      const gw = await fx.gateway({
        rules: [{ path: '/ws/', target: `${backend.origin}/base/`, fallbackToHttp: false }],
      });
      assertGatewayError(await fx.exchange(gw.port, h2cRequest()), 404);
      await barrier(gw.port);
      assert.equal(backend.connections(), 0);
    },
  );

  test(
    'an HTTP/2 preface pipelined behind an h2c upgrade never reaches the backend, as tunnel data or as a request',
    opts,
    async () => {
      const { backend, gateway, client, response } = await proxyPlain(fx, h2cRequest() + PREFACE);
      assert.equal(response.status, 200);
      // The preface was in the same write as the request, so the gateway has parsed it by now; closing the
      // gateway flushes anything it sent the backend ahead of its FIN.
      await gateway.close(0);
      await backend.allClosed();
      assert.equal(backend.connections(), 1, 'the preface opened a backend connection');
      assert.equal(backend.receivedAfterHead(0).toString('latin1'), '', 'the preface reached the backend');
      assert.ok(!SWITCHING.test(client.text), 'something switched protocols');
    },
  );

  test(
    'a POST with Upgrade: h2c and a body on a websocket route is proxied as plain HTTP with its body, never tunnelled',
    opts,
    async () => {
      const request = rawRequest('POST /ws/form HTTP/1.1', [
        ['Host', 'front.example'],
        ['Connection', 'Upgrade, HTTP2-Settings'],
        ['Upgrade', 'h2c'],
        ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
        ['Content-Length', '7'],
      ]);
      // The backend answers only once the whole body is in, so the gateway has sent all of it.
      const backend = await fx.backend((conn) => {
        void receivedAtLeast(conn, 7).then(
          () => conn.socket.end(plainOk()),
          () => undefined,
        );
      });
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
      const client = await fx.client(gw.port);
      client.socket.write(`${request}a=1&b=2`);
      const response = await client.response();
      assert.equal(response.status, 200, response.head);
      assert.equal(response.body.toString('latin1'), PLAIN_BODY);
      assert.ok(!SWITCHING.test(client.text), 'something switched protocols');
      assert.equal(backend.conns.length, 1);
      const backendHead = backend.conns[0]!.head;
      assert.equal(backendHead.split('\r\n')[0], 'POST /base/form HTTP/1.1');
      assertPlainRequest(backendHead, ['http2-settings']);
      assert.deepEqual(values(requestHeaderPairs(backendHead), 'content-length'), ['7']);
      assert.equal(backend.receivedAfterHead(0).toString('latin1'), 'a=1&b=2');
    },
  );

  test(
    'a backend answering 101 h2c to the plain-proxied h2c request opens no tunnel and its HTTP/2 bytes never reach the client',
    opts,
    async () => {
      const { client, backend } = await switchedOnPlain(
        fx,
        h2cRequest(),
        `${switching101('', 'h2c')}${H2_SETTINGS}`,
      );
      assert.ok(!SWITCHING.test(client.text), `a 101 reached the client: ${JSON.stringify(client.text)}`);
      assert.ok(!client.bytes.includes(H2_SETTINGS), 'HTTP/2 frames from the backend reached the client');
      await backend.allClosed();
      assert.equal(backend.connections(), 1);
      assert.equal(backend.receivedAfterHead(0).length, 0);
    },
  );

  test('h2c offered next to websocket in one Upgrade header is 400, never forwarded', opts, async () => {
    const backend = await fx.backend();
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const request = wsHandshake('/ws/chat').replace('Upgrade: websocket', 'Upgrade: websocket, h2c');
    assertGatewayError(await fx.exchange(gw.port, request), 400);
    await barrier(gw.port);
    assert.equal(backend.connections(), 0);
  });

  test('a second Upgrade: h2c header next to Upgrade: websocket is 400, never forwarded', opts, async () => {
    const backend = await fx.backend();
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    assertGatewayError(await fx.exchange(gw.port, wsHandshake('/ws/chat', [['Upgrade', 'h2c']])), 400);
    await barrier(gw.port);
    assert.equal(backend.connections(), 0);
  });

  test('HTTP2-Settings on a WebSocket handshake is not forwarded', opts, async () => {
    const { backendHead } = await forwardThrough(
      fx,
      wsHandshake('/ws/chat', [['HTTP2-Settings', 'AAMAAABkAAQAAP__']]),
    );
    assert.deepEqual(values(requestHeaderPairs(backendHead), 'http2-settings'), []);
  });

  test('HTTP2-Settings is stripped even on a rule that explicitly allows every token', opts, async () => {
    const backend = await fx.backend(({ socket }) =>
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
    );
    const gw = await fx.gateway({
      rules: [{ path: '/ws/', target: `${backend.origin}/base/`, upgrade: '*' }],
    });
    const client = await fx.client(gw.port);
    client.socket.write(h2cRequest());
    await client.head();
    const pairs = requestHeaderPairs(backend.conns[0]!.head);
    assert.deepEqual(values(pairs, 'http2-settings'), [], 'HTTP2-Settings was forwarded');
    assert.deepEqual(values(pairs, 'connection'), ['Upgrade']);
  });

  test('a backend 101 switching a WebSocket handshake to h2c is 502, never a tunnel', opts, async () => {
    const { bytes, backend } = await answerThrough(
      fx,
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00',
    );
    assertGatewayError(bytes, 502);
    await backend.allClosed();
    assert.equal(backend.receivedAfterHead(0).length, 0);
  });
});
