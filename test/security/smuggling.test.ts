/**
 * WebSocket request smuggling (CVE-2019-17567, 0ang3el scenario 1): when the backend refuses an upgrade, the
 * gateway relays its answer and closes; nothing the client sends afterwards (pipelined or follow-up) may ever
 * reach the backend, and no later backend bytes may turn the connection into a tunnel. A request proxied as plain
 * HTTP is no tunnel either: what the client pipelines behind it is parsed and routed as requests of its own.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acceptAnything,
  assertPlainRequest,
  barrier,
  Fixture,
  gatewayTo,
  PLAIN_BODY,
  parseResponse,
  rawRequest,
  SWITCHING,
  sendThrough,
  statusLineCount,
  TEST_TIMEOUT_MS,
  values,
  writeFully,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const SMUGGLED = 'GET /internal/admin HTTP/1.1\r\nHost: backend.internal\r\n\r\n';

const fx = Fixture.perTest();

/** An upgrade to a protocol no rule tunnels (`Upgrade: foo` + `Connection: Upgrade`): proxied as a plain request. */
const UPGRADE_FOO = rawRequest('GET /ws/chat HTTP/1.1', [
  ['Host', 'front.example'],
  ['Upgrade', 'foo'],
  ['Connection', 'Upgrade'],
]);

/** A refusal with a Content-Length body; a 426 also carries the Upgrade the backend wants. */
function refusal(status: number, body: string): string {
  const upgrade = status === 426 ? 'Upgrade: websocket\r\nConnection: Upgrade\r\n' : '';
  return `HTTP/1.1 ${status} Refused\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${upgrade}\r\n${body}`;
}

describe('a refused upgrade never becomes a tunnel', () => {
  for (const status of [200, 401, 426]) {
    test(
      `backend ${status}: a GET pipelined in the handshake write never reaches the backend`,
      opts,
      async () => {
        const body = `refused with ${status}`;
        const { backend, gateway } = await gatewayTo(fx, ({ socket }) => socket.write(refusal(status, body)));

        const answer = await fx.exchange(gateway.port, wsHandshake('/ws/chat') + SMUGGLED);
        const response = parseResponse(answer);
        assert.equal(response.status, status);
        assert.equal(response.body.toString('latin1'), body, 'exactly the refusal body, then the close');
        assert.equal(statusLineCount(answer.toString('latin1')), 1, 'only one response may come back');
        // A relayed 426 keeps its Upgrade, which is hop-by-hop and so named in Connection (RFC 9110 7.8).
        assert.deepEqual(values(response, 'connection'), [status === 426 ? 'Upgrade, close' : 'close']);

        await backend.allClosed();
        assert.equal(
          backend.connections(),
          1,
          'the smuggled request must not open a second backend connection',
        );
        assert.equal(backend.receivedAfterHead(0).toString('latin1'), '', 'no byte after the handshake');
        assert.ok(!backend.conns[0]!.head.includes('/internal'));
      },
    );

    test(
      `backend ${status}: a GET sent after the refusal head arrived never reaches the backend`,
      opts,
      async () => {
        const { backend, gateway, client } = await sendThrough(
          fx,
          ({ socket }) => socket.write(`HTTP/1.1 ${status} Refused\r\nContent-Length: 10\r\n\r\n12345`),
          wsHandshake('/ws/chat'),
        );
        await client.until((b) => b.includes('\r\n\r\n12345'), 'the refusal head and half its body');

        // The backend connection is still open (5 body bytes to go) while the client sends its follow-up.
        await writeFully(client.socket, SMUGGLED);
        await barrier(gateway.port);
        assert.equal(backend.receivedAfterHead(0).length, 0, 'the follow-up reached the backend mid-refusal');

        backend.conns[0]!.socket.write('67890');
        const response = parseResponse(await client.ended);
        assert.equal(response.status, status);
        assert.equal(response.body.toString('latin1'), '1234567890');
        await backend.allClosed();
        assert.equal(backend.connections(), 1);
        assert.equal(backend.receivedAfterHead(0).length, 0, 'the follow-up reached the backend');
      },
    );
  }

  test(
    'a close-delimited refusal: a follow-up sent while the backend is still open never reaches it',
    opts,
    async () => {
      const { backend, gateway, client } = await sendThrough(
        fx,
        ({ socket }) =>
          socket.write('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno tunnel for you'),
        wsHandshake('/ws/chat'),
      );
      await client.until((b) => b.includes('no tunnel for you'), 'the refusal body');

      await writeFully(client.socket, `${SMUGGLED}\x81\x85\x00\x00\x00\x00hello`);
      await barrier(gateway.port);
      assert.equal(backend.receivedAfterHead(0).length, 0, 'client bytes reached the backend mid-refusal');

      backend.conns[0]!.socket.end();
      const response = parseResponse(await client.ended);
      assert.equal(response.status, 403);
      assert.equal(response.body.toString('latin1'), 'no tunnel for you');
      await backend.allClosed();
      assert.equal(backend.receivedAfterHead(0).length, 0);
      assert.equal(backend.connections(), 1);
    },
  );

  test(
    'a fake 101 and frame the backend appends after a 200 body are not relayed and open no tunnel',
    opts,
    async () => {
      const fake = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
      const { backend, client } = await sendThrough(
        fx,
        ({ socket }) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${fake}\x81\x05hello`),
        wsHandshake('/ws/chat'),
      );
      await client.until((b) => b.includes('\r\n\r\nok'), 'the 200');
      client.socket.write(SMUGGLED);

      const answer = (await client.ended).toString('latin1');
      const response = parseResponse(answer);
      assert.equal(response.status, 200);
      assert.equal(response.body.toString('latin1'), 'ok', 'bytes past Content-Length were relayed');
      assert.ok(!answer.includes('101'), 'the fake 101 reached the client');
      await backend.allClosed();
      assert.equal(backend.receivedAfterHead(0).length, 0);
    },
  );

  test('a chunked refusal is relayed decoded up to its last chunk, nothing after it', opts, async () => {
    const { backend, gateway } = await gatewayTo(fx, ({ socket }) =>
      socket.write(
        'HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\nWWW-Authenticate: Basic\r\n\r\n' +
          '4\r\nlog \r\n6\r\nin now\r\n0\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
      ),
    );
    const answer = await fx.exchange(gateway.port, wsHandshake('/ws/chat') + SMUGGLED);
    const response = parseResponse(answer);
    assert.equal(response.status, 401);
    assert.deepEqual(values(response, 'www-authenticate'), ['Basic']);
    assert.deepEqual(
      values(response, 'transfer-encoding'),
      [],
      'the chunked framing is the gateway’s to drop',
    );
    assert.equal(response.body.toString('latin1'), 'log in now');
    await backend.allClosed();
    assert.equal(backend.receivedAfterHead(0).length, 0);
  });

  test(
    'a refused 200 carrying Upgrade/Connection: upgrade is relayed without them (the client never switches)',
    opts,
    async () => {
      const { gateway } = await gatewayTo(fx, ({ socket }) =>
        socket.write(
          'HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nok',
        ),
      );
      const response = parseResponse(await fx.exchange(gateway.port, wsHandshake('/ws/chat')));
      assert.equal(response.status, 200);
      assert.deepEqual(values(response, 'upgrade'), []);
      assert.deepEqual(values(response, 'connection'), ['close']);
    },
  );

  test(
    'Upgrade without Connection: upgrade, with a pipelined GET: the first is proxied as a plain request, the second routed on its own (404), neither tunnelled',
    opts,
    async () => {
      const { backend, client } = await sendThrough(
        fx,
        acceptAnything,
        rawRequest('GET /ws/chat HTTP/1.1', [
          ['Host', 'front.example'],
          ['Upgrade', 'websocket'],
        ]) + SMUGGLED,
      );
      // The pipelined GET names a path no rule matches: the gateway answers it 404 and closes.
      const answer = (await client.ended).toString('latin1');
      assert.equal(statusLineCount(answer), 2, answer);
      const first = parseResponse(answer);
      assert.equal(first.status, 200);
      assert.ok(answer.includes(`\r\n\r\n${PLAIN_BODY}HTTP/1.1 404 `), `answers out of order: ${answer}`);
      assert.ok(!SWITCHING.test(answer), 'something switched protocols');

      await backend.allClosed();
      assert.equal(backend.connections(), 1, 'the pipelined GET reached the backend');
      assertPlainRequest(backend.conns[0]!.head);
      assert.equal(
        backend.receivedAfterHead(0).toString('latin1'),
        '',
        'the pipelined GET followed as raw bytes',
      );
    },
  );

  test(
    'a GET pipelined behind a plain-proxied upgrade to the same rule never reaches the backend as raw bytes',
    opts,
    async () => {
      const { backend, gateway, client } = await sendThrough(
        fx,
        acceptAnything,
        UPGRADE_FOO + SMUGGLED.replace('/internal/admin', '/ws/internal'),
      );
      const first = await client.response();
      assert.equal(first.status, 200);
      // Both requests were in one write, so the gateway has read the second; closing it flushes what it sent on.
      await gateway.close(0);
      await backend.allClosed();
      assert.ok(!SWITCHING.test(client.text), 'something switched protocols');
      assertPlainRequest(backend.conns[0]!.head);
      assert.equal(
        backend.receivedAfterHead(0).toString('latin1'),
        '',
        'the pipelined GET followed as raw bytes',
      );
      // If the pipelined GET was served, it went as a request of its own, built by the proxy.
      for (const conn of backend.conns.slice(1)) {
        assert.equal(conn.head.split('\r\n')[0], 'GET /base/internal HTTP/1.1');
        const pairs = assertPlainRequest(conn.head);
        assert.deepEqual(
          values(pairs, 'host'),
          [`127.0.0.1:${backend.port}`],
          'the client’s Host went through raw',
        );
        assert.deepEqual(values(pairs, 'x-forwarded-for'), ['127.0.0.1']);
      }
    },
  );

  // Node's parser cannot read past a request flagged as an upgrade once shouldUpgradeCallback declines it, so the
  // pipelined request cannot be answered; the gateway closes after the first response instead of leaving it waiting.
  test(
    'a request pipelined behind a plain-proxied Upgrade + Connection: upgrade request gets a close, not a hang',
    opts,
    async () => {
      const { backend, client } = await sendThrough(fx, acceptAnything, UPGRADE_FOO + SMUGGLED);
      const first = await client.response();
      assert.equal(first.status, 200);
      assert.match(first.head, /\r\nConnection: close\r\n/i);
      // The gateway ends the connection itself: the client never has to time out.
      const answer = (await client.ended).toString('latin1');
      assert.equal(statusLineCount(answer), 1, `one answer, then the close: ${JSON.stringify(answer)}`);
      assert.equal(backend.connections(), 1);
    },
  );
});
