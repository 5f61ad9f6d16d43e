/**
 * Hop-by-hop headers (RFC 9110 7.6.1): Connection and every header it names, plus the fixed hop-by-hop set, are
 * removed on the way to the backend and from the backend's 101 (Go CVE-2021-33197, Envoy #44525, Caddy
 * hopheaders_test); naming X-Forwarded-* in Connection never removes the gateway's own (CVE-2022-31813). The same
 * holds for requests proxied as plain HTTP and their responses.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  answerThrough,
  assertPlainRequest,
  Fixture,
  forwardedFields,
  forwardThrough,
  PLAIN_BODY,
  type PlainExchange,
  parseResponse,
  plainOk,
  proxyPlain,
  rawRequest,
  requestHeaderPairs,
  switching101,
  TEST_TIMEOUT_MS,
  values,
  wsHeaders,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };

const fx = Fixture.perTest();

/** A handshake whose Connection header is replaced by `connection` (one or several values). */
function handshakeWithConnection(
  connection: readonly string[],
  extra: readonly (readonly [string, string])[],
): string {
  const headers = wsHeaders(extra).filter(([name]) => name !== 'Connection');
  return rawRequest('GET /ws/chat HTTP/1.1', [
    ...connection.map((value) => ['Connection', value] as const),
    ...headers,
  ]);
}

describe('hop-by-hop headers on the request to the backend', () => {
  test('a header the client names in Connection (X-Custom) is not forwarded', opts, async () => {
    const { backendHead } = await forwardThrough(
      fx,
      handshakeWithConnection(['Upgrade, X-Custom'], [['X-Custom', 'secret-hop']]),
    );
    assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-custom'), []);
    assert.ok(!backendHead.includes('secret-hop'));
  });

  test('Connection names are matched case-insensitively (x-CUSTOM strips X-Custom)', opts, async () => {
    const { backendHead } = await forwardThrough(
      fx,
      handshakeWithConnection(['upgrade ,  x-CUSTOM '], [['X-Custom', 'secret-hop']]),
    );
    assert.ok(!backendHead.includes('secret-hop'), backendHead);
  });

  test('names in every Connection header count, including after an empty first one', opts, async () => {
    const { backendHead } = await forwardThrough(
      fx,
      handshakeWithConnection(
        ['', 'X-A', 'Upgrade, X-B'],
        [
          ['X-A', 'hop-a'],
          ['X-B', 'hop-b'],
          ['X-C', 'end-to-end'],
        ],
      ),
    );
    assert.ok(!backendHead.includes('hop-a'), 'X-A named in the 2nd Connection header was forwarded');
    assert.ok(!backendHead.includes('hop-b'), 'X-B named in the 3rd Connection header was forwarded');
    assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-c'), ['end-to-end']);
  });

  test(
    'fixed hop-by-hop headers are never forwarded, even when Connection does not name them',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(
        fx,
        handshakeWithConnection(
          ['Upgrade'],
          [
            ['Keep-Alive', 'timeout=5'],
            ['Proxy-Connection', 'keep-alive'],
            ['TE', 'trailers'],
            ['Trailer', 'X-Trailer'],
            ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
            ['Content-Length', '0'],
          ],
        ),
      );
      const pairs = requestHeaderPairs(backendHead);
      for (const name of [
        'keep-alive',
        'proxy-connection',
        'te',
        'trailer',
        'http2-settings',
        'content-length',
      ]) {
        assert.deepEqual(values(pairs, name), [], `${name} was forwarded`);
      }
      assert.deepEqual(values(pairs, 'connection'), ['Upgrade'], 'exactly the gateway’s own Connection');
      assert.deepEqual(values(pairs, 'upgrade'), ['websocket'], 'exactly the gateway’s own Upgrade');
    },
  );

  test(
    'Connection: X-Forwarded-For/-Host/-Proto cannot remove the gateway’s X-Forwarded-* (CVE-2022-31813)',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(
        fx,
        handshakeWithConnection(['Upgrade, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto'], []),
      );
      assert.deepEqual(forwardedFields(backendHead), {
        for: ['127.0.0.1'],
        host: ['front.example'],
        proto: ['http'],
      });
    },
  );

  test(
    'with trustForwarded, Connection: X-Forwarded-For still cannot remove the gateway’s value',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(
        fx,
        handshakeWithConnection(['Upgrade, X-Forwarded-For'], [['X-Forwarded-For', '203.0.113.9']]),
        { trustForwarded: true },
      );
      // Named in Connection, the client's value is hop-by-hop: dropped before the gateway adds its own (Apache).
      assert.deepEqual(
        values(requestHeaderPairs(backendHead), 'x-forwarded-for'),
        ['127.0.0.1'],
        backendHead,
      );
      assert.ok(!backendHead.includes('203.0.113.9'), backendHead);
    },
  );
});

/** A plain request (no upgrade) whose Connection header is `connection`, with `extra` fields. */
function plainWithConnection(connection: string, extra: readonly (readonly [string, string])[]): string {
  return rawRequest('GET /ws/page HTTP/1.1', [
    ['Host', 'front.example'],
    ['Connection', connection],
    ...extra,
  ]);
}

/**
 * Proxies, with trustForwarded, a plain request whose client sends X-Forwarded-For and names it in Connection
 * (which makes it hop-by-hop).
 */
function proxyPlainNamingForwardedFor(): Promise<PlainExchange> {
  return proxyPlain(fx, plainWithConnection('X-Forwarded-For', [['X-Forwarded-For', '203.0.113.9']]), {
    trustForwarded: true,
  });
}

describe('hop-by-hop headers on a plain proxied request and its response', () => {
  test(
    'Connection: X-Forwarded-For/-Host/-Proto cannot remove the gateway’s X-Forwarded-* from a plain request (CVE-2022-31813)',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        plainWithConnection('X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto', [
          ['X-Forwarded-For', '6.6.6.6'],
          ['X-Forwarded-Host', 'evil.example'],
        ]),
      );
      assert.deepEqual(forwardedFields(backendHead), {
        for: ['127.0.0.1'],
        host: ['front.example'],
        proto: ['http'],
      });
      assert.ok(!/6\.6\.6\.6|evil\.example/.test(backendHead), backendHead);
    },
  );

  test(
    'with trustForwarded, Connection: X-Forwarded-For still cannot remove the gateway’s value from a plain request',
    opts,
    async () => {
      const { backendHead } = await proxyPlainNamingForwardedFor();
      const forwardedFor = values(requestHeaderPairs(backendHead), 'x-forwarded-for');
      assert.equal(forwardedFor.length, 1, backendHead);
      assert.match(forwardedFor[0]!, /(?:^|, )127\.0\.0\.1$/, 'the gateway’s own value is not last');
    },
  );

  test(
    'with trustForwarded, an X-Forwarded-For the client names in Connection is dropped from a plain request before the gateway adds its own, as on a tunnel',
    opts,
    async () => {
      const { backendHead } = await proxyPlainNamingForwardedFor();
      assert.deepEqual(
        values(requestHeaderPairs(backendHead), 'x-forwarded-for'),
        ['127.0.0.1'],
        backendHead,
      );
    },
  );

  test(
    'headers the client names in Connection and the fixed hop-by-hop set never reach the backend on a plain request',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        plainWithConnection('X-Custom, keep-alive, Upgrade', [
          ['X-Custom', 'secret-hop'],
          ['X-End', 'end-to-end'],
          ['Keep-Alive', 'timeout=5'],
          ['Proxy-Connection', 'keep-alive'],
          ['TE', 'trailers'],
          ['Trailer', 'X-Trailer'],
          ['Upgrade', 'websocket/13'],
          ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
        ]),
      );
      const pairs = assertPlainRequest(backendHead, ['x-custom']);
      for (const name of ['keep-alive', 'proxy-connection', 'te', 'trailer']) {
        assert.deepEqual(values(pairs, name), [], `${name} was forwarded`);
      }
      assert.ok(!backendHead.includes('secret-hop'), backendHead);
      assert.deepEqual(values(pairs, 'x-end'), ['end-to-end']);
    },
  );

  test(
    'a plain response: the backend’s Upgrade, Connection-named and hop-by-hop headers never reach the client',
    opts,
    async () => {
      const { response } = await proxyPlain(
        fx,
        rawRequest('GET /ws/page HTTP/1.1', [['Host', 'front.example']]),
        {},
        plainOk(
          'Upgrade: websocket\r\nConnection: Upgrade, X-Internal\r\nX-Internal: backend-secret\r\n' +
            'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Public: shown\r\n',
        ),
      );
      assert.equal(response.status, 200);
      assert.ok(!response.head.includes('backend-secret'), response.head);
      for (const name of ['upgrade', 'keep-alive', 'proxy-connection']) {
        assert.deepEqual(values(response, name), [], `${name} reached the client`);
      }
      assert.deepEqual(values(response, 'connection'), ['keep-alive'], 'the connection the client asked for');
      assert.deepEqual(values(response, 'x-public'), ['shown']);
      assert.equal(response.body.toString('latin1'), PLAIN_BODY);
    },
  );

  test(
    'an HTTP/1.0 request proxied as plain HTTP gets Connection: close back, never its own Connection value echoed, and the connection closes',
    opts,
    async () => {
      const { response, client } = await proxyPlain(
        fx,
        rawRequest('GET /ws/chat HTTP/1.0', [['Host', 'front.example'], ...wsHeaders().slice(1)]),
      );
      assert.equal(response.status, 200);
      assert.deepEqual(values(response, 'connection'), ['close'], response.head);
      await client.ended;
    },
  );
});

describe('hop-by-hop headers on the 101 sent to the client', () => {
  test(
    'a header the backend names in its 101 Connection (X-Internal) does not reach the client',
    opts,
    async () => {
      const { bytes } = await answerThrough(
        fx,
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Internal\r\n' +
          'X-Internal: backend-secret\r\nX-Public: shown\r\n\r\n',
      );
      const response = parseResponse(bytes);
      assert.equal(response.status, 101);
      assert.ok(!response.head.includes('backend-secret'), response.head);
      assert.deepEqual(values(response, 'x-public'), ['shown']);
    },
  );

  test('names in several 101 Connection headers are all stripped', opts, async () => {
    const { bytes } = await answerThrough(
      fx,
      switching101(
        'Connection: X-Secret-A\r\nConnection: x-secret-b, keep-alive\r\nX-Secret-A: a\r\nX-Secret-B: b\r\n',
      ),
    );
    const response = parseResponse(bytes);
    assert.equal(response.status, 101);
    assert.deepEqual(values(response, 'x-secret-a'), []);
    assert.deepEqual(values(response, 'x-secret-b'), []);
  });

  test(
    'hop-by-hop headers in the backend 101 are stripped; one Connection: Upgrade and one Upgrade remain',
    opts,
    async () => {
      const { bytes } = await answerThrough(
        fx,
        switching101(
          'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n' +
            'Trailer: X-T\r\nTE: trailers\r\nContent-Length: 0\r\n',
        ),
      );
      const response = parseResponse(bytes);
      assert.equal(response.status, 101);
      for (const name of [
        'keep-alive',
        'proxy-connection',
        'transfer-encoding',
        'trailer',
        'te',
        'content-length',
      ]) {
        assert.deepEqual(values(response, name), [], `${name} reached the client`);
      }
      assert.deepEqual(values(response, 'connection'), ['Upgrade']);
      assert.deepEqual(values(response, 'upgrade'), ['websocket']);
      assert.deepEqual(values(response, 'sec-websocket-accept'), ['s3pPLMBiTxaQ9kYGzzhZRbK+xOo=']);
    },
  );

  test('several Set-Cookie headers in the 101 all reach the client, in order', opts, async () => {
    const { bytes } = await answerThrough(
      fx,
      switching101(
        'Set-Cookie: a=1; Path=/\r\nX-Between: x\r\nSet-Cookie: b=2; HttpOnly\r\nSet-Cookie: c=3\r\n',
      ),
    );
    assert.deepEqual(values(parseResponse(bytes), 'set-cookie'), ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
  });

  test('the 101 status line is regenerated whatever reason phrase the backend sent', opts, async () => {
    const { bytes } = await answerThrough(
      fx,
      'HTTP/1.1 101 Totally Not Switching \xe9\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    );
    assert.equal(parseResponse(bytes).statusLine, 'HTTP/1.1 101 Switching Protocols');
  });

  test('hop-by-hop and Connection-named headers are stripped from a relayed refusal too', opts, async () => {
    const { bytes } = await answerThrough(
      fx,
      'HTTP/1.1 403 Forbidden\r\nConnection: keep-alive, X-Internal\r\nX-Internal: backend-secret\r\n' +
        'Keep-Alive: timeout=5\r\nX-Public: shown\r\nContent-Length: 2\r\n\r\nno',
    );
    const response = parseResponse(bytes);
    assert.equal(response.status, 403);
    assert.ok(!response.head.includes('backend-secret'), response.head);
    assert.deepEqual(values(response, 'keep-alive'), []);
    assert.deepEqual(values(response, 'connection'), ['close']);
    assert.deepEqual(values(response, 'x-public'), ['shown']);
    assert.equal(response.body.toString(), 'no');
  });
});
