/**
 * Optimistic upgrade data (RFC 9931): client bytes that arrive before the backend's 101 are held by the gateway,
 * delivered in order after a valid 101, and dropped when the upgrade is refused or fails. The gateway itself is
 * never optimistic toward the backend.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  barrier,
  Fixture,
  parseResponse,
  receivedAtLeast,
  switching101,
  TEST_TIMEOUT_MS,
  writeFully,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };

const fx = Fixture.perTest();

describe('client bytes sent before the 101', () => {
  test(
    'early data in the handshake write reaches the backend only after its 101, in order',
    opts,
    async () => {
      const backend = await fx.backend();
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
      const client = await fx.client(gw.port);
      client.socket.write(`${wsHandshake('/ws/chat')}EARLY-1;`);
      const conn = await backend.nextConn();
      await writeFully(client.socket, 'EARLY-2;');
      await barrier(gw.port);
      assert.equal(Buffer.concat(conn.received).length, 0, 'client bytes reached the backend before its 101');
      assert.equal(client.bytes.length, 0, 'the client got an answer before the backend gave one');

      conn.socket.write(switching101());
      const head = await client.head();
      assert.match(head, /^HTTP\/1\.1 101 /);
      const received = await receivedAtLeast(conn, 'EARLY-1;EARLY-2;'.length);
      assert.equal(received.toString('latin1'), 'EARLY-1;EARLY-2;');
    },
  );

  test(
    'more than 64 KiB of early data is held, not forwarded, then delivered whole after the 101',
    opts,
    async () => {
      const backend = await fx.backend();
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
      const early = Buffer.alloc(200 * 1024);
      for (let i = 0; i < early.length; i++) early[i] = (i * 7 + (i >> 8)) & 0xff;
      const client = await fx.client(gw.port);
      client.socket.write(wsHandshake('/ws/chat'));
      const conn = await backend.nextConn();
      client.socket.write(early);
      await barrier(gw.port);
      assert.equal(Buffer.concat(conn.received).length, 0, 'held bytes leaked to the backend before the 101');

      conn.socket.write(switching101());
      await client.head();
      const received = await receivedAtLeast(conn, early.length);
      assert.equal(received.length, early.length);
      assert.ok(received.equals(early), 'early data corrupted or reordered');
    },
  );

  test('early data is dropped when the backend refuses the upgrade (403)', opts, async () => {
    const backend = await fx.backend(({ socket }) =>
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied'),
    );
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const answer = await fx.exchange(gw.port, `${wsHandshake('/ws/chat')}\x81\x85\x00\x00\x00\x00hello`);
    assert.equal(parseResponse(answer).status, 403);
    await backend.allClosed();
    assert.equal(backend.receivedAfterHead(0).length, 0, 'early data reached a backend that refused');
  });

  test('early data is dropped when the backend 101 names the wrong protocol (502)', opts, async () => {
    const backend = await fx.backend(({ socket }) => socket.write(switching101('', 'h2c')));
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const answer = await fx.exchange(gw.port, `${wsHandshake('/ws/chat')}PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`);
    assert.equal(parseResponse(answer).status, 502);
    await backend.allClosed();
    assert.equal(backend.receivedAfterHead(0).length, 0, 'early data followed a rejected 101');
  });

  test('early data is dropped when the backend never answers (504)', opts, async () => {
    const backend = await fx.backend();
    const gw = await fx.gateway({
      rules: [{ path: '/ws/', target: `${backend.origin}/base/`, timeout: 300 }],
    });
    const answer = await fx.exchange(gw.port, `${wsHandshake('/ws/chat')}EARLY`);
    assert.equal(parseResponse(answer).status, 504);
    await backend.allClosed();
    assert.equal(backend.receivedAfterHead(0).length, 0, 'early data reached a backend that never answered');
  });

  test('backend bytes sent with its 101 reach the client right after the regenerated 101', opts, async () => {
    const frame = Buffer.from([0x81, 0x05, ...Buffer.from('hello')]);
    const backend = await fx.backend(({ socket }) =>
      socket.write(Buffer.concat([Buffer.from(switching101(), 'latin1'), frame])),
    );
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const client = await fx.client(gw.port);
    client.socket.write(wsHandshake('/ws/chat'));
    const bytes = await client.until((b) => {
      const end = b.indexOf('\r\n\r\n');
      return end !== -1 && b.length >= end + 4 + frame.length;
    }, 'the 101 and the first frame');
    const response = parseResponse(bytes);
    assert.equal(response.status, 101);
    assert.ok(response.body.equals(frame), 'the backend’s first frame was lost or altered');
  });
});
