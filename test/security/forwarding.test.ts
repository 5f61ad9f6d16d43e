/**
 * What the backend receives: request line with the mapped path normalised (unreserved escapes decoded, the others
 * upper-cased, as Apache forwards them) and the query byte for byte, Host first, the client's end-to-end headers in
 * order and unchanged (obs-text included), then the gateway's X-Forwarded-* (client values replaced unless
 * trustForwarded), then Connection/Upgrade; plain proxied requests get the same path and X-Forwarded-* treatment.
 * And what comes back: header bytes unchanged.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openClient, roundTrip } from '../helpers/gateway.ts';
import {
  acceptAnything,
  answerThrough,
  type Collector,
  Fixture,
  forwardedFields,
  forwardThrough,
  gatewayTo,
  parseResponse,
  proxyPlain,
  rawRequest,
  requestHeaderPairs,
  requestLine,
  SAMPLE_KEY,
  switching101,
  TEST_TIMEOUT_MS,
  values,
  wsHandshake,
  wsHeaders,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };

const fx = Fixture.perTest();

/**
 * Request-targets and what the backend must get for them under `/ws/` -> `/base/`: escapes of unreserved characters
 * decoded, other escapes kept and upper-cased (RFC 3986 6.2.2, as Apache does), `%2F` kept, no double decoding;
 * the query untouched, whatever it holds.
 */
const PATH_CASES: readonly (readonly [string, string])[] = [
  ['/ws/a//b?x=%41', '/base/a//b?x=%41'],
  ['/ws/%2F%2f%3F%23?q=%00%0D%0a&q=2', '/base/%2F%2F%3F%23?q=%00%0D%0a&q=2'],
  ["/ws/a;b=c,d~e!$&'()*+@:x", "/base/a;b=c,d~e!$&'()*+@:x"],
  ['/ws/?', '/base/?'],
  ['/ws/caf%C3%A9/%e9/%7E', '/base/caf%C3%A9/%E9/~'],
  ['/ws/%41%7a%30%2D%2e%5F%7e', '/base/Az0-._~'],
  ['/ws/x?a=b?c=d/../e&&', '/base/x?a=b?c=d/../e&&'],
  ['/ws/x?q=%zz%&r=%2e%2e', '/base/x?q=%zz%&r=%2e%2e'],
  ['/ws/%252e%252e/x', '/base/%252e%252e/x'],
  ['/ws/%7e?%7e', '/base/~?%7e'],
];

/** The request line the backend must get for each of {@link PATH_CASES}, in order. */
const PATH_CASE_REQUEST_LINES = PATH_CASES.map(([, expected]) => `GET ${expected} HTTP/1.1`);

/**
 * Sends `request(path)` for each of {@link PATH_CASES}, each on a connection of its own, through one gateway to a
 * backend that accepts anything; `answered` waits for (and checks) each client's answer before the next is sent.
 * Resolves with the request lines the backend received, in order.
 */
async function backendRequestLines(
  request: (path: string) => string,
  answered: (client: Collector, path: string) => Promise<void>,
): Promise<string[]> {
  const { backend, gateway } = await gatewayTo(fx, acceptAnything);
  for (const [path] of PATH_CASES) {
    const client = await fx.client(gateway.port);
    client.socket.write(request(path));
    await answered(client, path);
  }
  return backend.conns.map((conn) => requestLine(conn.head));
}

/** A request-target with a percent-encoded CRLF that, decoded, would inject a header and a second request. */
const ENCODED_CRLF_PATH = '/ws/a%0d%0aX-Injected:%201%0d%0a%0d%0aGET%20/smuggled';

/** What the backend must get for {@link ENCODED_CRLF_PATH}: the escapes kept (upper-cased), one request line. */
const ENCODED_CRLF_REQUEST_LINE = 'GET /base/a%0D%0AX-Injected:%201%0D%0A%0D%0AGET%20/smuggled HTTP/1.1';

const CLIENT_HEADERS: [string, string][] = [
  ['Host', 'front.example:8443'],
  ['Origin', 'https://app.example'],
  ['Upgrade', 'websocket'],
  ['Cookie', 'session=abc; theme=dark'],
  ['Connection', 'Upgrade'],
  ['Authorization', 'Bearer t0k3n'],
  ['Sec-WebSocket-Key', SAMPLE_KEY],
  ['Sec-WebSocket-Version', '13'],
  ['Sec-WebSocket-Protocol', 'chat, superchat'],
  ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits'],
  ['User-Agent', 'sec-test/1'],
];

/** X-Forwarded-* a client forges, X-Forwarded-For twice (in two spellings): by default none may reach the backend. */
const FORGED_FORWARDED: readonly (readonly [string, string])[] = [
  ['X-Forwarded-For', '6.6.6.6'],
  ['X-Forwarded-Host', 'evil.example'],
  ['X-Forwarded-Proto', 'https'],
  ['x-forwarded-for', '7.7.7.7'],
];

/** X-Forwarded-* from a trusted proxy in front, X-Forwarded-For in two lines: trustForwarded keeps them, in order. */
const TRUSTED_FORWARDED: readonly (readonly [string, string])[] = [
  ['X-Forwarded-For', '198.51.100.1'],
  ['X-Forwarded-Host', 'edge.example'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-For', '198.51.100.2'],
];

describe('the request the backend receives', () => {
  test(
    'Host first, client headers in order, then X-Forwarded-*, then Connection and Upgrade last',
    opts,
    async () => {
      const { backendHead, backendPort } = await forwardThrough(
        fx,
        rawRequest('GET /ws/chat?room=1 HTTP/1.1', CLIENT_HEADERS),
      );
      assert.deepEqual(backendHead.split('\r\n'), [
        'GET /base/chat?room=1 HTTP/1.1',
        `Host: 127.0.0.1:${backendPort}`,
        'Origin: https://app.example',
        'Cookie: session=abc; theme=dark',
        'Authorization: Bearer t0k3n',
        `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: chat, superchat',
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
        'User-Agent: sec-test/1',
        'X-Forwarded-For: 127.0.0.1',
        'X-Forwarded-Host: front.example:8443',
        'X-Forwarded-Proto: http',
        'Connection: Upgrade',
        'Upgrade: websocket',
      ]);
    },
  );

  test('preserveHost sends the client’s Host, still as the first header', opts, async () => {
    const { backendHead } = await forwardThrough(fx, rawRequest('GET /ws/chat HTTP/1.1', CLIENT_HEADERS), {
      preserveHost: true,
    });
    const pairs = requestHeaderPairs(backendHead);
    assert.deepEqual(pairs[0], ['host', 'front.example:8443']);
    assert.equal(values(pairs, 'host').length, 1);
  });

  test(
    'client X-Forwarded-* headers are replaced by the gateway’s by default (no forged client address)',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(fx, wsHandshake('/ws/chat', FORGED_FORWARDED));
      assert.deepEqual(forwardedFields(backendHead), {
        for: ['127.0.0.1'],
        host: ['front.example'],
        proto: ['http'],
      });
      for (const [, forged] of FORGED_FORWARDED) {
        assert.ok(!backendHead.includes(forged), `forged ${forged} reached the backend`);
      }
    },
  );

  test('trustForwarded appends the gateway’s values after the client’s, one line each', opts, async () => {
    const { backendHead } = await forwardThrough(fx, wsHandshake('/ws/chat', TRUSTED_FORWARDED), {
      trustForwarded: true,
    });
    assert.deepEqual(forwardedFields(backendHead), {
      for: ['198.51.100.1, 198.51.100.2, 127.0.0.1'],
      host: ['edge.example, front.example'],
      proto: ['https, http'],
    });
    const names = requestHeaderPairs(backendHead).map(([name]) => name);
    assert.deepEqual(names.slice(-5), [
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'connection',
      'upgrade',
    ]);
  });

  test(
    'repeated Cookie and long Sec-WebSocket-Protocol values reach the backend unchanged',
    opts,
    async () => {
      const protocols = Array.from({ length: 700 }, (_, i) => `proto${i}`).join(', ');
      const { backendHead } = await forwardThrough(
        fx,
        wsHandshake('/ws/chat', [
          ['Cookie', 'a=1'],
          ['Cookie', 'b=2'],
          ['Sec-WebSocket-Protocol', protocols],
        ]),
      );
      const pairs = requestHeaderPairs(backendHead);
      assert.deepEqual(values(pairs, 'cookie'), ['a=1', 'b=2']);
      assert.deepEqual(values(pairs, 'sec-websocket-protocol'), [protocols]);
    },
  );

  test(
    'the path reaches the backend normalised (unreserved escapes decoded, others upper-cased) and the query byte for byte',
    opts,
    async () => {
      const lines = await backendRequestLines(wsHandshake, async (client, path) => {
        assert.match(await client.head(), /^HTTP\/1\.1 101 /, `${path} was not tunnelled`);
      });
      assert.deepEqual(lines, PATH_CASE_REQUEST_LINES);
    },
  );

  test(
    'a percent-encoded CRLF in the path stays encoded (upper-cased, as Apache forwards it) and cannot split the backend request',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(fx, wsHandshake(ENCODED_CRLF_PATH));
      assert.equal(requestLine(backendHead), ENCODED_CRLF_REQUEST_LINE);
      assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-injected'), []);
    },
  );

  test(
    'an escaped rule prefix (/%77s/ for /ws/) is routed like the plain spelling (CVE-2024-38473)',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(fx, wsHandshake('/%77s/chat'));
      assert.equal(requestLine(backendHead), 'GET /base/chat HTTP/1.1');
    },
  );

  test('obs-text bytes in client header values reach the backend unchanged', opts, async () => {
    const value = 'caf\xe9 \xff\x80 na\xefve';
    const { backendHead } = await forwardThrough(fx, wsHandshake('/ws/chat', [['X-Name', value]]));
    assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-name'), [value]);
  });
});

describe('the plain request the backend receives', () => {
  test(
    'a plain request’s path is normalised like an upgrade’s, and its query forwarded byte for byte',
    opts,
    async () => {
      const lines = await backendRequestLines(
        (path) => rawRequest(`GET ${path} HTTP/1.1`, [['Host', 'front.example']]),
        async (client, path) => {
          const response = await client.response();
          assert.equal(response.status, 200, `${path}: ${response.head}`);
        },
      );
      assert.deepEqual(lines, PATH_CASE_REQUEST_LINES);
    },
  );

  test(
    'a percent-encoded CRLF in a plain request’s path stays encoded and cannot split the backend request',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        rawRequest(`GET ${ENCODED_CRLF_PATH} HTTP/1.1`, [['Host', 'front.example']]),
      );
      assert.equal(requestLine(backendHead), ENCODED_CRLF_REQUEST_LINE);
      assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-injected'), []);
    },
  );

  test(
    'client X-Forwarded-* headers on a plain request are replaced by the gateway’s by default (no forged client address)',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        rawRequest('GET /ws/page HTTP/1.1', [['Host', 'front.example'], ...FORGED_FORWARDED]),
      );
      assert.deepEqual(forwardedFields(backendHead), {
        for: ['127.0.0.1'],
        host: ['front.example'],
        proto: ['http'],
      });
      for (const [, forged] of FORGED_FORWARDED) {
        assert.ok(!backendHead.includes(forged), `forged ${forged} reached the backend`);
      }
    },
  );

  test(
    'trustForwarded on a plain request appends the gateway’s values after the client’s',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        rawRequest('GET /ws/page HTTP/1.1', [['Host', 'front.example'], ...TRUSTED_FORWARDED]),
        { trustForwarded: true },
      );
      assert.deepEqual(forwardedFields(backendHead), {
        for: ['198.51.100.1, 198.51.100.2, 127.0.0.1'],
        host: ['edge.example, front.example'],
        proto: ['https, http'],
      });
    },
  );

  test('a plain request gets the target’s Host, or the client’s with preserveHost', opts, async () => {
    const request = rawRequest('GET /ws/page HTTP/1.1', [['Host', 'front.example:8443']]);
    const { backendHead, backend } = await proxyPlain(fx, request);
    assert.deepEqual(values(requestHeaderPairs(backendHead), 'host'), [`127.0.0.1:${backend.port}`]);
    const preserved = await proxyPlain(fx, request, { preserveHost: true });
    assert.deepEqual(values(requestHeaderPairs(preserved.backendHead), 'host'), ['front.example:8443']);
  });
});

describe('bytes of the backend answer', () => {
  test('obs-text bytes in a 101 header value reach the client unchanged', opts, async () => {
    const value = 'caf\xe9 \xff\x80';
    const { bytes } = await answerThrough(fx, switching101(`X-Name: ${value}\r\n`));
    const response = parseResponse(bytes);
    assert.equal(response.status, 101);
    assert.deepEqual(values(response, 'x-name'), [value]);
  });

  test(
    'obs-text bytes in a relayed refusal’s header value and reason phrase are not re-encoded',
    opts,
    async () => {
      const value = 'caf\xe9 \xff';
      const { bytes } = await answerThrough(
        fx,
        `HTTP/1.1 403 Interdit \xe9\r\nX-Name: ${value}\r\nContent-Length: 2\r\n\r\nno`,
      );
      const response = parseResponse(bytes);
      assert.equal(response.status, 403);
      assert.equal(response.statusLine, 'HTTP/1.1 403 Interdit \xe9', 'reason phrase bytes changed');
      assert.deepEqual(values(response, 'x-name'), [value], 'header value bytes changed');
      assert.equal(response.body.toString('latin1'), 'no');
    },
  );

  test(
    'a real WebSocket client negotiates its subprotocol and echoes through the gateway',
    opts,
    async () => {
      const echo = await fx.echo();
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${echo.origin}/base/` }] });
      const client = await openClient(gw.ws('/ws/chat?x=1'), ['chat', 'superchat'], {
        headers: { Origin: 'https://app.example', Cookie: 'session=abc' },
      });
      try {
        assert.equal(client.protocol, 'chat');
        const reply = await roundTrip(client, Buffer.from([0, 1, 2, 0xff]));
        assert.deepEqual([...reply.data], [0, 1, 2, 0xff]);
        assert.equal(reply.isBinary, true);
        const req = echo.requests[0]!;
        assert.equal(req.url, '/base/chat?x=1');
        assert.equal(req.headers.origin, 'https://app.example');
        assert.equal(req.headers.cookie, 'session=abc');
      } finally {
        client.terminate();
      }
    },
  );

  test(
    'the client’s Upgrade/Connection are replaced by exactly one of each from the gateway, placed last',
    opts,
    async () => {
      const headers = wsHeaders().filter(([name]) => name !== 'Upgrade');
      const { backendHead } = await forwardThrough(
        fx,
        rawRequest('GET /ws/chat HTTP/1.1', [['Upgrade', 'WebSocket'], ...headers]),
      );
      const pairs = requestHeaderPairs(backendHead);
      assert.equal(values(pairs, 'upgrade').length, 1);
      assert.equal(values(pairs, 'connection').length, 1);
      assert.deepEqual(pairs.at(-1)?.[0], 'upgrade');
    },
  );
});
