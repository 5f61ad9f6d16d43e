/**
 * Pooled keep-alive backend connections on the plain-proxy path: bytes a backend sends beyond the response to the
 * request in flight (a second response, a body to HEAD/204/304) must never be taken as the answer to a later request
 * of another client that reuses the pooled connection (response desync / cache poisoning across clients).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BackendConn, barrier, Fixture, rawRequest, TEST_TIMEOUT_MS } from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const fx = Fixture.perTest();

const POISON = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nPOISONED';

function reply(body: string): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`;
}

/** Calls `onRequest(n)` for every further request head (after the first) that arrives on `conn`. */
function onLaterRequests(conn: BackendConn, onRequest: (n: number) => void): void {
  let text = Buffer.concat(conn.received).toString('latin1');
  let seen = 0;
  const scan = (): void => {
    const heads = text.split('\r\n\r\n').length - 1;
    while (seen < heads) onRequest(++seen);
  };
  conn.socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    scan();
  });
  scan();
}

/**
 * Client A sends `first`; the backend answers with `answer` (which may carry extra bytes) on a keep-alive
 * connection, then, once A has its response, sends `extra`. Client B then asks for /ws/second; the backend answers
 * every later request with `SECOND-<n>`. Resolves with B's response text.
 */
async function secondClientAfter(first: string, answer: string, extra: string): Promise<string> {
  let writeExtra: (() => void) | undefined;
  const backend = await fx.backend((conn) => {
    const index = backend.conns.indexOf(conn);
    if (index === 0) {
      conn.socket.write(answer);
      writeExtra = () => {
        if (extra !== '') conn.socket.write(extra);
      };
    } else {
      conn.socket.write(reply('SECOND-fresh'));
    }
    onLaterRequests(conn, (n) => conn.socket.write(reply(`SECOND-${n}`)));
  });
  const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
  const a = await fx.client(gateway.port);
  a.socket.write(first);
  await a.until((b) => /\r\n\r\n/.test(b.toString('latin1')), 'a response head for A');
  await barrier(gateway.port);
  assert.ok(writeExtra !== undefined, 'the backend saw A');
  writeExtra();
  await barrier(gateway.port); // the gateway has read whatever the backend sent
  const b = await fx.client(gateway.port);
  b.socket.write(rawRequest('GET /ws/second HTTP/1.1', [['Host', 'front.example']]));
  const response = await b.response();
  return `${response.head}\r\n\r\n${response.body.toString('latin1')}`;
}

const GET_A = rawRequest('GET /ws/first HTTP/1.1', [['Host', 'front.example']]);

describe('a pooled backend connection never answers another client with stray bytes', () => {
  test(
    'a second, unsolicited response after a complete one never reaches the next client',
    opts,
    async () => {
      const text = await secondClientAfter(GET_A, reply('FIRST'), POISON);
      assert.ok(!text.includes('POISONED'), `client B got the stray response: ${JSON.stringify(text)}`);
      assert.match(text, /SECOND-/);
    },
  );

  test('a second response in the same write as the first never reaches the next client', opts, async () => {
    const text = await secondClientAfter(GET_A, reply('FIRST') + POISON, '');
    assert.ok(!text.includes('POISONED'), `client B got the stray response: ${JSON.stringify(text)}`);
    assert.match(text, /SECOND-/);
  });

  test('a body sent with the response to HEAD never becomes the next client’s response', opts, async () => {
    const head = rawRequest('HEAD /ws/first HTTP/1.1', [['Host', 'front.example']]);
    const text = await secondClientAfter(
      head,
      `HTTP/1.1 200 OK\r\nContent-Length: ${POISON.length}\r\nConnection: keep-alive\r\n\r\n`,
      POISON,
    );
    assert.ok(!text.includes('POISONED'), `client B got the stray response: ${JSON.stringify(text)}`);
    assert.match(text, /SECOND-/);
  });

  for (const status of ['204 No Content', '304 Not Modified']) {
    test(`a body after a ${status} never becomes the next client’s response`, opts, async () => {
      const text = await secondClientAfter(
        GET_A,
        `HTTP/1.1 ${status}\r\nConnection: keep-alive\r\n\r\n`,
        POISON,
      );
      assert.ok(!text.includes('POISONED'), `client B got the stray response: ${JSON.stringify(text)}`);
      assert.match(text, /SECOND-/);
    });
  }
});
