/**
 * The response head a plain-proxied request gets back. Node's client parser accepts control bytes (NUL, DEL, ESC...)
 * in a backend's reason phrase and status codes below 100 (000, 099), which Node's ServerResponse refuses to write:
 * httpxy copies them into the client response and `writeHead` throws outside any handler, killing the gateway
 * process (every client, every rule). None may reach the client, and none may take the gateway down.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { barrier, Fixture, rawRequest, TEST_TIMEOUT_MS } from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const fx = Fixture.perTest();

const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;

/** Sends one plain GET through a gateway whose backend answers `answer`; resolves with what the client got. */
async function plainAnswer(answer: string): Promise<{ text: string; port: number }> {
  const backend = await fx.backend(({ socket }) => socket.end(Buffer.from(answer, 'latin1')));
  const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
  const client = await fx.client(gateway.port);
  client.socket.write(
    rawRequest('GET /ws/page HTTP/1.1', [
      ['Host', 'front.example'],
      ['Connection', 'close'],
    ]),
  );
  const bytes = await client.ended;
  return { text: bytes.toString('latin1'), port: gateway.port };
}

describe('a plain response’s status code', () => {
  for (const status of ['000', '099']) {
    test(
      `status ${status} from the backend is 502 and does not crash the gateway (uncaught ERR_HTTP_INVALID_STATUS_CODE)`,
      opts,
      async () => {
        const { text, port } = await plainAnswer(
          `HTTP/1.1 ${status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
        );
        assert.match(text, /^HTTP\/1\.1 502 /, `expected 502, got ${JSON.stringify(text)}`);
        await barrier(port); // the gateway is still alive
      },
    );
  }
});

describe('a plain response’s reason phrase', () => {
  for (const [name, byte] of [
    ['NUL', '\0'],
    ['DEL', '\x7f'],
    ['ESC', '\x1b'],
    ['VT', '\x0b'],
  ] as const) {
    test(
      `${name} in the backend's reason phrase never reaches the client and does not crash the gateway (uncaught ERR_INVALID_CHAR)`,
      opts,
      async () => {
        const backend = await fx.backend(({ socket }) =>
          socket.end(
            Buffer.from(
              `HTTP/1.1 200 O${byte}K\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
              'latin1',
            ),
          ),
        );
        const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
        const client = await fx.client(gateway.port);
        client.socket.write(
          rawRequest('GET /ws/page HTTP/1.1', [
            ['Host', 'front.example'],
            ['Connection', 'close'],
          ]),
        );
        const bytes = await client.ended;
        const text = bytes.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        const head = end === -1 ? text : text.slice(0, end);
        assert.ok(
          !CONTROL.test(head.replace(/\r\n/g, '')),
          `a control byte reached the client: ${JSON.stringify(head)}`,
        );
        assert.match(text, /^HTTP\/1\.1 (200|502) /, `no answer: ${JSON.stringify(text)}`);
        await barrier(gateway.port); // the gateway is still alive
      },
    );
  }
});
