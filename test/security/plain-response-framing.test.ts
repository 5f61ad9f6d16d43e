/**
 * Response framing on the plain-proxy path. A backend response whose Transfer-Encoding does not end in `chunked`
 * (say `Transfer-Encoding: gzip`) is delimited by the close of the connection (RFC 9112 6.3). Relaying that field on
 * a kept-alive client connection leaves the client (or a front proxy sharing the connection between users) unable
 * to tell where the response ends: the next response on the connection becomes part of this one's body.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fixture, parseResponse, rawRequest, TEST_TIMEOUT_MS, values } from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const fx = Fixture.perTest();

/** Whether a response head lets a client find the end of its body without waiting for the connection to close. */
function selfDelimited(head: ReturnType<typeof parseResponse>): boolean {
  const te = values(head, 'transfer-encoding').join(',').trim().toLowerCase();
  if (te !== '') return /(?:^|,)\s*chunked$/.test(te);
  return values(head, 'content-length').length === 1;
}

describe('every plain response the client gets on a kept-alive connection is self-delimited', () => {
  for (const [name, answer] of [
    [
      'Transfer-Encoding: gzip (close-delimited)',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nFIRST-BODY',
    ],
    ['Transfer-Encoding: identity', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nFIRST-BODY'],
    [
      'Transfer-Encoding: chunked, gzip',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nFIRST-BODY',
    ],
    ['no framing at all', 'HTTP/1.1 200 OK\r\n\r\nFIRST-BODY'],
    [
      'Transfer-Encoding: gzip, chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\na\r\nFIRST-BODY\r\n0\r\n\r\n',
    ],
  ] as const) {
    test(
      `a backend response with ${name}: the client can delimit it, or the gateway closes after it`,
      opts,
      async () => {
        const backend = await fx.backend(({ socket }) => socket.end(Buffer.from(answer, 'latin1')));
        const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
        const client = await fx.client(gateway.port);
        client.socket.write(rawRequest('GET /ws/a HTTP/1.1', [['Host', 'front.example']]));
        await client.until((b) => b.includes('FIRST-BODY'), 'the first body');
        const response = parseResponse(client.bytes);
        const closes = values(response, 'connection').some((v) => /(?:^|,)\s*close\s*(?:,|$)/i.test(v));
        assert.ok(
          selfDelimited(response) || closes,
          `a close-delimited response was sent on a kept-alive connection: ${JSON.stringify(response.head)}`,
        );
        if (!selfDelimited(response)) await client.ended; // then the gateway really closes
      },
    );
  }
});
