/**
 * h2c smuggling (Bishop Fox 2020, golang/go#80416): a client must not be able to negotiate HTTP/2 cleartext with
 * the backend through a WebSocket route, nor get HTTP2-Settings forwarded, nor have a backend switch a WebSocket
 * handshake to h2c.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  answerThrough,
  assertGatewayError,
  barrier,
  Fixture,
  forwardThrough,
  parseResponse,
  rawRequest,
  requestHeaderPairs,
  TEST_TIMEOUT_MS,
  values,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

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
      `Upgrade: ${token} with HTTP2-Settings on a websocket route is 426 and never reaches the backend`,
      opts,
      async () => {
        const backend = await fx.backend();
        const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
        assertGatewayError(await fx.exchange(gw.port, h2cRequest(token)), 426);
        await barrier(gw.port);
        assert.equal(backend.connections(), 0);
      },
    );
  }

  test('an HTTP/2 preface pipelined behind an h2c upgrade never reaches the backend', opts, async () => {
    const backend = await fx.backend();
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const answer = await fx.exchange(gw.port, h2cRequest() + PREFACE);
    assert.equal(parseResponse(answer).status, 426);
    assert.ok(!answer.toString('latin1').includes('101'), 'something switched protocols');
    await barrier(gw.port);
    assert.equal(backend.connections(), 0);
  });

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
