// Regression, found in review of the balancer (low): the failover hook is taken even when no further attempt is possible (maxAttempts 0, a single
// member, or the last of maxAttempts), so the member's real answer is thrown away and the client gets the gateway's
// generic 503 "no member answered": a failonstatus 503 loses its Retry-After/body, a 500 becomes 503, and a
// failontimeout timeout becomes 503 instead of 504.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRawBackend } from '../../helpers/backends.ts';
import { startTestGateway } from '../../helpers/gateway.ts';
import { handshakeRequest, rawConnect, readHead } from '../../helpers/net.ts';

test("with nobody left to try, the member's failonstatus answer reaches the client", async () => {
  const busy = await startRawBackend((socket) =>
    socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy'),
  );
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: { pool: { failOnStatus: [503], maxAttempts: 0, members: [{ url: busy.origin }] } },
  });
  try {
    const socket = await rawConnect(gateway.port);
    socket.write(handshakeRequest('/ws/x'));
    const { head } = await readHead(socket);
    socket.destroy();
    assert.match(head, /retry-after: 7/i, head);
  } finally {
    await gateway.close(0);
    await busy.close();
  }
});
