/**
 * How the gateway classifies client requests. Not an upgrade the rule tunnels (HTTP/1.0, no Connection: upgrade,
 * a token the rule does not allow, a non-GET WebSocket handshake): proxied as plain HTTP, never tunnelled, or with
 * fallbackToHttp: false passed on to the next rule. And what it must answer itself without ever contacting the
 * backend: malformed upgrades and unroutable paths (400), unmatched paths (404), and what Node's parser rejects
 * (400, 431). Every local answer comes from a gateway whose backend would happily accept (a 101 to an upgrade, a
 * 200 to anything else), so a request that slips through shows up as a backend connection.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acceptAnything,
  assertGatewayError,
  assertPlainRequest,
  barrier,
  Fixture,
  forwardThrough,
  type ParsedResponse,
  PLAIN_BODY,
  parseResponse,
  proxyPlain,
  type RuleOptions,
  rawRequest,
  requestHeaderPairs,
  TEST_TIMEOUT_MS,
  values,
  wsHandshake,
  wsHeaders,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };

const fx = Fixture.perTest();

/** How strictly the local answer is checked once the backend is known untouched. */
type Check = 'gateway-error' | 'status-only' | 'not-tunnelled';

/**
 * Sends `request` to a gateway in front of an accepting backend; asserts the backend was never contacted, then
 * that the answer is `status`: a complete gateway error, or (for Node's own parser errors and plain-HTTP
 * answers) just that status. Never hangs on a kept-alive connection: only a `Connection: close` answer is read
 * to its end.
 */
async function answeredLocally(
  request: string | Buffer,
  status: number,
  check: Check = 'gateway-error',
  rule: RuleOptions = {},
): Promise<ParsedResponse> {
  const backend = await fx.backend(acceptAnything);
  const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, ...rule }] });
  const client = await fx.client(gw.port);
  client.socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  const head = parseResponse(`${await client.head()}\r\n\r\n`);
  const closes = values(head, 'connection').some((v) => /(?:^|,)\s*close\s*(?:,|$)/i.test(v));
  const bytes = closes ? await client.ended : client.bytes;
  await barrier(gw.port);
  assert.equal(backend.connections(), 0, 'the backend was contacted');
  assert.notEqual(head.status, 101, 'the request was tunnelled');
  if (check === 'gateway-error') return assertGatewayError(bytes, status);
  const response = parseResponse(bytes);
  if (check === 'not-tunnelled') return response;
  assert.equal(response.status, status, response.head);
  return response;
}

function handshakeWith(requestLine: string, replace: Record<string, string | undefined>): string {
  const headers = wsHeaders()
    .filter(([name]) => !(name in replace) || replace[name] !== undefined)
    .map(([name, value]) => [name, replace[name] ?? value] as [string, string]);
  return rawRequest(requestLine, headers);
}

/**
 * Requests that reach the /ws/ rule without being an upgrade it tunnels, with the fields their Connection names
 * (which must not reach the backend either).
 */
const NOT_TUNNELLED: readonly (readonly [name: string, request: string, named: readonly string[]])[] = [
  ['HTTP/1.0 with Upgrade and Connection: upgrade', handshakeWith('GET /ws/chat HTTP/1.0', {}), []],
  [
    'HTTP/1.0 with Upgrade but no Connection',
    handshakeWith('GET /ws/chat HTTP/1.0', { Connection: undefined }),
    [],
  ],
  [
    'Upgrade without Connection: upgrade',
    handshakeWith('GET /ws/chat HTTP/1.1', { Connection: undefined }),
    [],
  ],
  [
    'Upgrade with Connection: keep-alive (no upgrade token)',
    handshakeWith('GET /ws/chat HTTP/1.1', { Connection: 'keep-alive' }),
    ['keep-alive'],
  ],
  ...['POST', 'PUT', 'DELETE'].map(
    (method) =>
      [`a ${method} WebSocket handshake`, handshakeWith(`${method} /ws/chat HTTP/1.1`, {}), []] as const,
  ),
  ...['foo', 'websocketx', 'web', 'websocket/13', 'TLS/1.2', 'h2c'].map(
    (token) =>
      [
        `Upgrade: ${token} (not a whole allowed token)`,
        handshakeWith('GET /ws/chat HTTP/1.1', { Upgrade: token }),
        [],
      ] as const,
  ),
];

describe('requests that are not an upgrade the rule tunnels are proxied as plain HTTP, never tunnelled', () => {
  for (const [name, request, named] of NOT_TUNNELLED) {
    test(
      `${name} is proxied as a plain request: the backend sees no Upgrade and the client gets the backend’s 200`,
      opts,
      async () => {
        const { backendHead, response, backend } = await proxyPlain(fx, request);
        const method = request.slice(0, request.indexOf(' '));
        assert.equal(backendHead.split('\r\n')[0], `${method} /base/chat HTTP/1.1`);
        assertPlainRequest(backendHead, named);
        assert.equal(response.status, 200, response.head);
        assert.equal(
          response.body.toString('latin1'),
          PLAIN_BODY,
          'the client did not get the backend’s answer',
        );
        await backend.allClosed();
        assert.equal(backend.receivedAfterHead(0).length, 0, 'bytes followed the plain request');
      },
    );

    test(
      `${name}, on a rule with fallbackToHttp: false, skips it: gateway 404, backend never contacted`,
      opts,
      async () => {
        await answeredLocally(request, 404, 'gateway-error', { fallbackToHttp: false });
      },
    );
  }

  test(
    'with fallbackToHttp: false, a request the first rule does not tunnel reaches the next rule, never the first backend',
    opts,
    async () => {
      const first = await fx.backend(acceptAnything);
      const second = await fx.backend(acceptAnything);
      const gw = await fx.gateway({
        rules: [
          { path: '/ws/', target: `${first.origin}/base/`, fallbackToHttp: false },
          { path: '/', target: `http://127.0.0.1:${second.port}/next/` },
        ],
      });
      const client = await fx.client(gw.port);
      client.socket.write(handshakeWith('GET /ws/chat HTTP/1.1', { Upgrade: 'foo' }));
      const response = await client.response();
      assert.equal(response.status, 200, response.head);
      assert.equal(response.body.toString('latin1'), PLAIN_BODY);
      assert.equal(second.conns.length, 1);
      assert.equal(second.conns[0]!.head.split('\r\n')[0], 'GET /next/ws/chat HTTP/1.1');
      assertPlainRequest(second.conns[0]!.head);
      await barrier(gw.port);
      assert.equal(first.connections(), 0, 'the rule with fallbackToHttp: false contacted its backend');
    },
  );

  test('control: Upgrade: WebSocket and Connection: keep-alive, Upgrade are tunnelled', opts, async () => {
    const { backendHead } = await forwardThrough(
      fx,
      handshakeWith('GET /ws/chat HTTP/1.1', { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }),
    );
    assert.equal(values(requestHeaderPairs(backendHead), 'upgrade')[0]?.toLowerCase(), 'websocket');
  });
});

describe('malformed upgrade requests are 400 and closed', () => {
  for (const upgrade of ['websocket, foo', 'foo, websocket', 'websocket,']) {
    test(`several protocols offered (Upgrade: ${upgrade}) are 400`, opts, async () => {
      await answeredLocally(handshakeWith('GET /ws/chat HTTP/1.1', { Upgrade: upgrade }), 400);
    });
  }

  test('two Upgrade headers are 400', opts, async () => {
    await answeredLocally(wsHandshake('/ws/chat', [['Upgrade', 'websocket']]), 400);
  });

  test(
    'an upgrade with a Content-Length body is 400 and the body never reaches the backend',
    opts,
    async () => {
      await answeredLocally(`${wsHandshake('/ws/chat', [['Content-Length', '5']])}hello`, 400);
    },
  );

  test('an upgrade with a chunked body is 400 and the body never reaches the backend', opts, async () => {
    await answeredLocally(
      `${wsHandshake('/ws/chat', [['Transfer-Encoding', 'chunked']])}5\r\nhello\r\n0\r\n\r\n`,
      400,
    );
  });

  for (const path of [
    '/ws/../x',
    '/ws/%2e%2e/x',
    '/ws/%2E%2E/x',
    '/ws/.%2e/x',
    '/ws/%2e./x',
    '/ws/./x',
    '/ws/a/..',
    '/ws/a/%2e',
    '/ws/..?q=1',
  ]) {
    test(`dot segment path ${path} is 400`, opts, async () => {
      await answeredLocally(wsHandshake(path), 400);
    });
  }

  test(
    'a backslash dot segment (/ws/..\\admin), which WHATWG URL parsers resolve to /admin, is 400',
    opts,
    async () => {
      await answeredLocally(wsHandshake('/ws/..\\admin'), 400);
    },
  );

  test('an absolute-form target is never routed to the authority it names', opts, async () => {
    const other = await fx.backend(acceptAnything);
    await answeredLocally(wsHandshake(`http://127.0.0.1:${other.port}/ws/chat`), 0, 'not-tunnelled');
    assert.equal(other.connections(), 0, 'the authority in the request-target was dialled');
  });

  test('an absolute-form target is 400 (non-origin-form)', opts, async () => {
    await answeredLocally(wsHandshake('http://127.0.0.1:1/ws/chat'), 400);
  });

  test('an @host target is 400', opts, async () => {
    await answeredLocally(wsHandshake('@127.0.0.1:1/ws/chat'), 400, 'status-only');
  });
});

describe('path escapes are 400 before any rule is chosen, for plain requests and upgrades alike', () => {
  // The request-target vectors of @fastify/http-proxy's path-traversal tests, plus malformed escapes.
  const vectors = [
    '/ws/../secret',
    '/ws/%2e%2e/secret',
    '/ws/%2E./secret',
    '/ws/.%2E/secret',
    '/ws/..%2Fsecret',
    '/ws/..%5Csecret',
    '/ws/%5c..%5csecret',
    '/ws/dir\\..\\..\\secret',
    '/ws/%',
    '/ws/%zz',
    '/ws/a%2',
    '/ws/%2e%2e%2f..%2fsecret?q=1',
  ];
  for (const path of vectors) {
    test(`a plain GET of ${path} is 400 and never reaches the backend`, opts, async () => {
      await answeredLocally(rawRequest(`GET ${path} HTTP/1.1`, [['Host', 'front.example']]), 400);
    });

    test(`a WebSocket upgrade to ${path} is 400 and never reaches the backend`, opts, async () => {
      await answeredLocally(wsHandshake(path), 400);
    });
  }

  for (const path of ['/nope/../ws/chat', '/%2e%2e/ws/chat', '/nope%2F..%2Fws/chat']) {
    test(`${path}, outside every rule, is 400, not routed and not 404`, opts, async () => {
      await answeredLocally(wsHandshake(path), 400);
      await answeredLocally(rawRequest(`GET ${path} HTTP/1.1`, [['Host', 'front.example']]), 400);
    });
  }

  test(
    '%2F is not a path separator for matching: /ws%2Fchat does not match the /ws/ rule (404)',
    opts,
    async () => {
      await answeredLocally(wsHandshake('/ws%2Fchat'), 404);
      await answeredLocally(rawRequest('GET /ws%2fchat HTTP/1.1', [['Host', 'front.example']]), 404);
    },
  );
});

describe('request-target and header syntax', () => {
  for (const [name, target] of [
    ['CR LF', '/ws/a\r\nX-Injected: 1'],
    ['bare LF', '/ws/a\nX-Injected: 1'],
  ] as const) {
    test(`${name} in the request target never reaches the backend`, opts, async () => {
      const response = await answeredLocally(wsHandshake(target), 0, 'not-tunnelled');
      assert.ok(response.status >= 400, `answered ${response.status}`);
    });

    test(`${name} in the request target is 400`, opts, async () => {
      await answeredLocally(wsHandshake(target), 400, 'status-only');
    });
  }

  for (const [name, target] of [
    ['a space', '/ws/a b'],
    ['a tab', '/ws/a\tb'],
    ['a NUL', '/ws/a\0b'],
    ['a DEL', '/ws/a\x7fb'],
    ['a raw byte >= 0x80', '/ws/caf\xe9'],
  ] as const) {
    test(`${name} in the request target is 400 from the parser`, opts, async () => {
      await answeredLocally(wsHandshake(target), 400, 'status-only');
    });
  }

  test('obs-fold in a request header is 400, never forwarded as a line break', opts, async () => {
    await answeredLocally(wsHandshake('/ws/chat', [['X-Fold', 'a\r\n folded']]), 400, 'status-only');
  });

  for (const [name, value] of [
    ['a NUL', 'a\0b'],
    ['a bare CR', 'a\rX-Injected: 1'],
  ] as const) {
    test(`${name} in a header value is 400`, opts, async () => {
      await answeredLocally(wsHandshake('/ws/chat', [['X-Bad', value]]), 400, 'status-only');
    });
  }

  test('a header name with a space before the colon is 400', opts, async () => {
    await answeredLocally(wsHandshake('/ws/chat', [['X-Bad ', 'v']]), 400, 'status-only');
  });

  test('oversized request headers are 431', opts, async () => {
    await answeredLocally(wsHandshake('/ws/chat', [['X-Big', 'a'.repeat(20_000)]]), 431, 'status-only');
  });

  test('too many request headers (3000) are 431', opts, async () => {
    const many = Array.from({ length: 3000 }, () => ['a', '1'] as [string, string]);
    await answeredLocally(wsHandshake('/ws/chat', many), 431, 'status-only');
  });

  test(
    'many headers (800): a Connection header at the very end still strips what it names',
    opts,
    async () => {
      const many = Array.from({ length: 800 }, () => ['a', '1'] as [string, string]);
      const { backendHead } = await forwardThrough(
        fx,
        wsHandshake('/ws/chat', [['X-Early', 'hop'], ...many, ['Connection', 'X-Early']]),
      );
      const pairs = requestHeaderPairs(backendHead);
      assert.deepEqual(values(pairs, 'x-early'), []);
      assert.deepEqual(values(pairs, 'x-forwarded-for'), ['127.0.0.1']);
    },
  );
});

describe('routing', () => {
  test('an upgrade no rule matches is a 404 complete error, the backend untouched', opts, async () => {
    await answeredLocally(wsHandshake('/nope/chat'), 404);
  });

  test('an upgrade to a path that only shares a prefix (/wsx) is 404', opts, async () => {
    await answeredLocally(wsHandshake('/wsx/chat').replace('GET /wsx/chat', 'GET /wsx'), 404);
  });

  test('a plain GET no rule matches is a 404 complete error with Connection: close', opts, async () => {
    await answeredLocally(rawRequest('GET /nope HTTP/1.1', [['Host', 'front.example']]), 404);
  });
});

describe('linear-time header parsing', () => {
  test('a long whitespace run in Upgrade is classified in linear time (no ReDoS)', opts, async () => {
    const backend = await fx.backend(acceptAnything);
    const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
    const timeExchanges = async (upgrade: string): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        const client = await fx.client(gw.port);
        client.socket.write(handshakeWith('GET /ws/chat HTTP/1.1', { Upgrade: upgrade }));
        // Neither value is an allowed token: both are proxied as plain requests, never tunnelled.
        const response = await client.response();
        assert.equal(response.status, 200, response.head);
        client.socket.destroy();
      }
      return performance.now() - started;
    };
    const control = await timeExchanges(`websocket${'x'.repeat(15_000)}y`);
    const spaces = await timeExchanges(`websocket${' '.repeat(15_000)}y`);
    assert.ok(
      spaces < control * 5 + 100,
      `15 000 spaces took ${spaces.toFixed(0)} ms for 3 requests, the same size without spaces ${control.toFixed(0)} ms`,
    );
    for (const conn of backend.conns) assertPlainRequest(conn.head);
    assert.equal(backend.conns.length, 6);
  });
});
