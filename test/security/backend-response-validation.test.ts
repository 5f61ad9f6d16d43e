/**
 * The backend's answer is parsed strictly (CVE-2026-33523, CVE-2022-37436, CVE-2023-27522): a head with a bare
 * CR, NUL, obs-fold, a bad status line, a bad field name or an oversized head is a 502 and nothing of it reaches
 * the client; only a 101 whose single Upgrade equals the requested token becomes a tunnel (0ang3el scenario 2).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  answerThrough,
  assertGatewayError,
  Fixture,
  parseResponse,
  rawRequest,
  SWITCHING,
  switchedOnPlain,
  switching101,
  TEST_TIMEOUT_MS,
  values,
  wsHeaders,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
/** A WebSocket frame the backend appends after a head that must be rejected: it must never reach the client. */
const EVIL_FRAME = '\x81\x04evil';

const fx = Fixture.perTest();

/** Asserts `bytes` are only the gateway's 502 and carry none of the backend's bytes. */
async function assertRejected(response: string): Promise<void> {
  const { bytes, backend } = await answerThrough(fx, response + EVIL_FRAME);
  const text = bytes.toString('latin1');
  assertGatewayError(bytes, 502);
  assert.ok(!text.includes('evil'), `backend bytes reached the client: ${JSON.stringify(text)}`);
  assert.ok(!text.includes('\0'), 'a NUL reached the client');
  assert.ok(!/\r(?!\n)/.test(text), 'a bare CR reached the client');
  assert.ok(!/\n[ \t]/.test(text), 'an obs-fold reached the client');
  await backend.allClosed();
}

describe('malformed backend heads are 502 and never relayed', () => {
  const cases: [string, string][] = [
    [
      'a bare CR in a 101 header value (Set-Cookie injection)',
      switching101('X-A: a\rSet-Cookie: evil=1\r\n'),
    ],
    ['a NUL in a 101 header value', switching101('X-A: a\0evil=1\r\n')],
    ['an obs-fold line (SP) in a 101', switching101('X-A: a\r\n Set-Cookie: evil=1\r\n')],
    ['an obs-fold line (HTAB) in a 101', switching101('X-A: a\r\n\tevil=1\r\n')],
    [
      'a bare CR in the 101 reason phrase injecting a header',
      'HTTP/1.1 101 Switching\rSet-Cookie: evil=1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    ],
    [
      'a NUL in the 101 reason phrase',
      'HTTP/1.1 101 Switching\0evil\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    ],
    ['a space before the colon in a 101 header', switching101('Set-Cookie : evil=1\r\n')],
    ['an empty header name in a 101', switching101(': evil=1\r\n')],
    ['a 101 header line without a colon', switching101('Set-Cookie evil=1\r\n')],
    ['a 101 head larger than 16 KiB', switching101(`X-Big: ${'a'.repeat(20_000)}\r\nX-After: evil\r\n`)],
    [
      'a head that grows past 16 KiB without ending',
      `HTTP/1.1 101 Switching Protocols\r\nX-Big: ${'a'.repeat(20_000)}`,
    ],
    [
      'a bare CR in a 200 header value',
      'HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok',
    ],
    ['a NUL in a 401 reason phrase', 'HTTP/1.1 401 Unauthorized\0evil\r\nContent-Length: 2\r\n\r\nno'],
    [
      'conflicting Content-Length in a 403',
      'HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nno',
    ],
    ['a negative Content-Length in a 403', 'HTTP/1.1 403 Forbidden\r\nContent-Length: -1\r\n\r\nno'],
  ];
  for (const [name, response] of cases) {
    test(`${name} is 502 and nothing of it reaches the client`, opts, async () => {
      await assertRejected(response);
    });
  }

  const statusLines = [
    'HTTP/1.1 101Switching Protocols',
    'HTTP/2 101 Switching Protocols',
    'HTTP/1.2 101 Switching Protocols',
    'HTTP/1.1 1010 Switching Protocols',
    'HTTP/1.1 10 Switching Protocols',
    'http/1.1 101 Switching Protocols',
    ' HTTP/1.1 101 Switching Protocols',
    'HTTP/1.1  101 Switching Protocols',
    'ICY 101 Switching Protocols',
  ];
  for (const statusLine of statusLines) {
    test(`a malformed status line ${JSON.stringify(statusLine)} is 502, not relayed`, opts, async () => {
      await assertRejected(`${statusLine}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
    });
  }

  test('an invalid header name from the backend is not echoed into the 502', opts, async () => {
    await assertRejected(switching101('X-evil<script>: 1\r\n'));
  });
});

describe('only a 101 with the requested token becomes a tunnel', () => {
  const cases: [string, string][] = [
    ['another token (websocket2)', switching101('', 'websocket2')],
    ['two tokens in one Upgrade header', switching101('', 'websocket, h2c')],
    ['two Upgrade headers', switching101('Upgrade: websocket\r\n')],
    ['no Upgrade header', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n'],
    ['an empty Upgrade header', switching101('', '')],
  ];
  for (const [name, response] of cases) {
    test(`a 101 with ${name} is 502 and its tunnel bytes never reach the client`, opts, async () => {
      await assertRejected(response);
    });
  }

  test('an unsolicited switch (client asked foo, backend 101 websocket) is 502', opts, async () => {
    const request = rawRequest(
      'GET /ws/chat HTTP/1.1',
      wsHeaders().map(([n, v]) => [n, n === 'Upgrade' ? 'foo' : v] as [string, string]),
    );
    const { bytes, backend } = await answerThrough(
      fx,
      switching101() + EVIL_FRAME,
      { upgrade: ['websocket', 'foo'] },
      request,
    );
    assertGatewayError(bytes, 502);
    assert.ok(!bytes.toString('latin1').includes('evil'));
    await backend.allClosed();
  });

  test('the Upgrade token is compared case-insensitively (101 WebSocket is a tunnel)', opts, async () => {
    const { bytes } = await answerThrough(fx, switching101('', 'WebSocket'));
    const response = parseResponse(bytes);
    assert.equal(response.status, 101);
    assert.deepEqual(
      values(response, 'upgrade'),
      ['WebSocket'],
      "the backend's own spelling reaches the client, as Apache relays it",
    );
  });
});

describe('a 101 answering a plain-proxied request is never a tunnel', () => {
  // No token was asked for (the backend got no Upgrade), so no 101 can be the one a tunnel needs (RFC 9110 15.2.2).
  const requests: [string, string][] = [
    ['a plain GET', rawRequest('GET /ws/chat HTTP/1.1', [['Host', 'front.example']])],
    [
      'an upgrade to a token the rule does not allow (foo)',
      rawRequest(
        'GET /ws/chat HTTP/1.1',
        wsHeaders().map(([n, v]) => [n, n === 'Upgrade' ? 'foo' : v] as [string, string]),
      ),
    ],
    ['a WebSocket handshake over HTTP/1.0', rawRequest('GET /ws/chat HTTP/1.0', wsHeaders())],
  ];
  for (const [name, request] of requests) {
    test(
      `a backend 101 to ${name} opens no tunnel: neither the 101 nor the bytes after it reach the client`,
      opts,
      async () => {
        const { client, backend } = await switchedOnPlain(fx, request, switching101() + EVIL_FRAME);
        assert.ok(!SWITCHING.test(client.text), `a 101 reached the client: ${JSON.stringify(client.text)}`);
        assert.ok(
          !client.text.includes('evil'),
          `tunnel bytes reached the client: ${JSON.stringify(client.text)}`,
        );
        await backend.allClosed();
        assert.equal(backend.connections(), 1);
        assert.equal(
          backend.receivedAfterHead(0).length,
          0,
          'client bytes reached the backend after its 101',
        );
      },
    );
  }

  test(
    'a backend 101 to a plain-proxied request is answered 502 to the client, not left hanging',
    opts,
    async () => {
      const { client } = await switchedOnPlain(
        fx,
        rawRequest('GET /ws/chat HTTP/1.1', [['Host', 'front.example']]),
        switching101() + EVIL_FRAME,
      );
      // By now the backend connection is closed and the gateway has served a barrier: its answer is due.
      assert.ok(
        client.bytes.includes('\r\n\r\n'),
        `no answer after the backend connection closed: ${JSON.stringify(client.text)}`,
      );
      assertGatewayError(await client.ended, 502);
    },
  );
});

describe('interim responses before the 101', () => {
  test('100 and 103 before the 101 are skipped and their headers never reach the client', opts, async () => {
    const { bytes } = await answerThrough(
      fx,
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </evil.css>; rel=preload\r\n\r\n' +
        switching101(),
    );
    const text = bytes.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.ok(!text.includes('evil'), text);
  });

  test('an endless stream of interim responses is 502, not a hang', opts, async () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(20);
    await assertRejected(interim + switching101());
  });
});
