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
  Fixture,
  forwardThrough,
  parseResponse,
  proxyPlain,
  rawRequest,
  requestHeaderPairs,
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
      const { backendHead } = await forwardThrough(
        fx,
        wsHandshake('/ws/chat', [
          ['X-Forwarded-For', '6.6.6.6'],
          ['X-Forwarded-Host', 'evil.example'],
          ['X-Forwarded-Proto', 'https'],
          ['x-forwarded-for', '7.7.7.7'],
        ]),
      );
      const pairs = requestHeaderPairs(backendHead);
      assert.deepEqual(values(pairs, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(values(pairs, 'x-forwarded-host'), ['front.example']);
      assert.deepEqual(values(pairs, 'x-forwarded-proto'), ['http']);
      for (const forged of ['6.6.6.6', '7.7.7.7', 'evil.example', 'https']) {
        assert.ok(!backendHead.includes(forged), `forged ${forged} reached the backend`);
      }
    },
  );

  test('trustForwarded appends the gateway’s values after the client’s, one line each', opts, async () => {
    const { backendHead } = await forwardThrough(
      fx,
      wsHandshake('/ws/chat', [
        ['X-Forwarded-For', '198.51.100.1'],
        ['X-Forwarded-Host', 'edge.example'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-For', '198.51.100.2'],
      ]),
      { trustForwarded: true },
    );
    const pairs = requestHeaderPairs(backendHead);
    assert.deepEqual(values(pairs, 'x-forwarded-for'), ['198.51.100.1, 198.51.100.2, 127.0.0.1']);
    assert.deepEqual(values(pairs, 'x-forwarded-host'), ['edge.example, front.example']);
    assert.deepEqual(values(pairs, 'x-forwarded-proto'), ['https, http']);
    const names = pairs.map(([name]) => name);
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
      const backend = await fx.backend(acceptAnything);
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
      for (const [index, [path, expected]] of PATH_CASES.entries()) {
        const client = await fx.client(gw.port);
        client.socket.write(wsHandshake(path));
        assert.match(await client.head(), /^HTTP\/1\.1 101 /, `${path} was not tunnelled`);
        const requestLine = backend.conns[index]!.head.split('\r\n')[0];
        assert.equal(requestLine, `GET ${expected} HTTP/1.1`, `for ${path}`);
      }
    },
  );

  test(
    'a percent-encoded CRLF in the path stays encoded (upper-cased, as Apache forwards it) and cannot split the backend request',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(
        fx,
        wsHandshake('/ws/a%0d%0aX-Injected:%201%0d%0a%0d%0aGET%20/smuggled'),
      );
      const lines = backendHead.split('\r\n');
      assert.equal(lines[0], 'GET /base/a%0D%0AX-Injected:%201%0D%0A%0D%0AGET%20/smuggled HTTP/1.1');
      assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-injected'), []);
    },
  );

  test(
    'an escaped rule prefix (/%77s/ for /ws/) is routed like the plain spelling (CVE-2024-38473)',
    opts,
    async () => {
      const { backendHead } = await forwardThrough(fx, wsHandshake('/%77s/chat'));
      assert.equal(backendHead.split('\r\n')[0], 'GET /base/chat HTTP/1.1');
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
      const backend = await fx.backend(acceptAnything);
      const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
      for (const [index, [path, expected]] of PATH_CASES.entries()) {
        const client = await fx.client(gw.port);
        client.socket.write(rawRequest(`GET ${path} HTTP/1.1`, [['Host', 'front.example']]));
        const response = await client.response();
        assert.equal(response.status, 200, `${path}: ${response.head}`);
        const requestLine = backend.conns[index]!.head.split('\r\n')[0];
        assert.equal(requestLine, `GET ${expected} HTTP/1.1`, `for ${path}`);
      }
    },
  );

  test(
    'a percent-encoded CRLF in a plain request’s path stays encoded and cannot split the backend request',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        rawRequest('GET /ws/a%0d%0aX-Injected:%201%0d%0a%0d%0aGET%20/smuggled HTTP/1.1', [
          ['Host', 'front.example'],
        ]),
      );
      assert.equal(
        backendHead.split('\r\n')[0],
        'GET /base/a%0D%0AX-Injected:%201%0D%0A%0D%0AGET%20/smuggled HTTP/1.1',
      );
      assert.deepEqual(values(requestHeaderPairs(backendHead), 'x-injected'), []);
    },
  );

  test(
    'client X-Forwarded-* headers on a plain request are replaced by the gateway’s by default (no forged client address)',
    opts,
    async () => {
      const { backendHead } = await proxyPlain(
        fx,
        rawRequest('GET /ws/page HTTP/1.1', [
          ['Host', 'front.example'],
          ['X-Forwarded-For', '6.6.6.6'],
          ['X-Forwarded-Host', 'evil.example'],
          ['X-Forwarded-Proto', 'https'],
          ['x-forwarded-for', '7.7.7.7'],
        ]),
      );
      const pairs = requestHeaderPairs(backendHead);
      assert.deepEqual(values(pairs, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(values(pairs, 'x-forwarded-host'), ['front.example']);
      assert.deepEqual(values(pairs, 'x-forwarded-proto'), ['http']);
      for (const forged of ['6.6.6.6', '7.7.7.7', 'evil.example', 'https']) {
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
        rawRequest('GET /ws/page HTTP/1.1', [
          ['Host', 'front.example'],
          ['X-Forwarded-For', '198.51.100.1'],
          ['X-Forwarded-Host', 'edge.example'],
          ['X-Forwarded-Proto', 'https'],
          ['X-Forwarded-For', '198.51.100.2'],
        ]),
        { trustForwarded: true },
      );
      const pairs = requestHeaderPairs(backendHead);
      assert.deepEqual(values(pairs, 'x-forwarded-for'), ['198.51.100.1, 198.51.100.2, 127.0.0.1']);
      assert.deepEqual(values(pairs, 'x-forwarded-host'), ['edge.example, front.example']);
      assert.deepEqual(values(pairs, 'x-forwarded-proto'), ['https, http']);
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
